"""The weekly publication: champion model + data as of the cut-off -> scores, alerts, files, recorded once.

:func:`publish_week` is the job ``civrisk publish`` runs; :func:`publish_model_week` does the work for a
model and events already in memory (tests, benchmarks, the demo).

Steps: data cut-off (origin t = Monday of the week, last data week ``min(t, week(as_of)) - k``) -> events
and coverage clipped to it -> freshness per country (stale countries' regions are withheld) -> panel and
features at t -> forecasts of every target x horizon -> scores -> in ONE store transaction: the
publication, its alerts, and the revision folder written in a staging folder and renamed into place; the
transaction commits only after the rename. A failure before the commit rolls the store back and removes
the folder, so the store and ``publications/`` are as they were. (A process killed between the rename and
the commit leaves a folder of a revision the store does not have; the next publication of that week,
holding the store's write lock, finds and removes it before writing the same revision number.)

Re-running with the same model and data returns the existing publication and writes nothing (the files
are rebuilt only if its folder is missing); new data or a new model give a new revision, older ones stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from civrisk.contracts import validate_forecasts
from civrisk.weeks import parse_week, week_label
from experiments.inputs import scope
from publish.alerting.rules import AlertRules, alerts_in_force, evaluate_alerts, with_standing
from publish.publication.asof import (
    DataCutoff,
    clip_to_cutoff,
    covered_weeks_after,
    data_cutoff,
    data_fingerprint,
    freshness,
    latest_publishable_week,
    origin_inputs,
    stale_countries,
)
from publish.publication.headline import (
    HEADLINE_TARGET,
    alert_scope,
    headline_horizon,
    rules_for,
    top_regions,
)
from publish.publication.outputs import (
    PublicationFiles,
    clear_leftovers,
    promote,
    remove_tree,
    revision_dir,
    staging_dir,
    write_publication_files,
)
from publish.render.report_summary import AlertScope
from publish.store.store import Publication, ScoreStore

if TYPE_CHECKING:
    from civrisk.settings import Settings
    from experiments.inputs import ModelInputs
    from ingest.boundaries import Boundaries
    from publish.publication.model_source import PublishModel


class NothingToPublish(ValueError):
    """No country has data covering the week's last data week: every score would be withheld."""


class LookaheadError(ValueError):
    """The model was trained on data the publication claims not to have had (after its data cut-off)."""


@dataclass(frozen=True)
class PublishResult:
    """What a publication run did and where its files are."""

    publication: Publication
    folder: Path
    created: bool
    """True when this run recorded a new revision; False: the same publication already existed."""
    rebuilt: bool
    """True when the files of an existing publication were missing and were written again."""
    cutoff: DataCutoff
    withheld: tuple[str, ...]
    """ISO3 of countries whose data are stale at the cut-off: their regions got no score."""
    no_score: tuple[str, ...]
    """Regions of fresh countries the model gave no score (NaN forecasts), each listed in ``notes``."""
    alerts: pd.DataFrame
    top: pd.DataFrame
    """The highest civ_any probabilities at ``horizon`` (publish.publication.headline.top_regions)."""
    horizon: int
    previous_week: str | None
    """The publication the ``change`` column of ``top`` compares with (latest earlier week), if any."""
    files: Mapping[str, Path]
    notes: tuple[str, ...]
    alert_scope: AlertScope = AlertScope()
    """Whether alerts were evaluated (not for a backfill week, nor without a rule that applies)."""


@dataclass(frozen=True)
class PublishOptions:
    """How to publish: CAP status ("Exercise" for demos), alert rules, report size."""

    cap_status: str = "Actual"
    rules: AlertRules | None = None
    """Alert rules; None: the levels the model's bundle carries (chosen on its backtest) or the defaults."""
    top_n: int = 10


def publish_week(
    week: str,
    as_of: date | None = None,
    model_version: str | None = None,
    events_dir: Path | None = None,
    *,
    settings: Settings,
    options: PublishOptions = PublishOptions(),
) -> PublishResult:
    """Publish ``week`` ("2020-W23") with the champion (or ``model_version``) on the data as of ``as_of``.

    Events come from ``events_dir`` (a ``civrisk ingest`` folder) or else the model's config data; files go
    to ``settings.home / "publications"``; the record goes to the settings' scores store.
    """
    from publish.publication.model_source import load_publish_model

    parse_week(week)  # a malformed week fails here, before the model and the data are loaded
    model = load_publish_model(model_version, settings)
    events, coverage, shapes = load_model_events(model, events_dir)
    with ScoreStore(settings.resolved_db_url()) as store:
        return publish_model_week(
            week, model, events, coverage, shapes, store, settings, as_of=as_of, options=options
        )


def load_model_events(
    model: PublishModel, events_dir: Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, Boundaries | None]:
    """Return (events, coverage, boundaries) of the model's config, read from ``events_dir`` if given."""
    from experiments.inputs import load_events

    config = model.config
    if events_dir is not None:
        data = config.data.model_copy(update={"events": Path(events_dir), "raw_files": ()})
        config = config.model_copy(update={"data": data})
    return load_events(config)


def publish_model_week(
    week: str | date | pd.Timestamp,
    model: PublishModel,
    events: pd.DataFrame,
    coverage: pd.DataFrame,
    boundaries: Boundaries | None,
    store: ScoreStore,
    settings: Settings,
    as_of: date | None = None,
    options: PublishOptions = PublishOptions(),
) -> PublishResult:
    """Publish ``week`` with ``model`` on ``events``/``coverage`` (all the data there is; clipped here)."""
    origin = pd.Timestamp(parse_week(week))
    cutoff = data_cutoff(origin, as_of, model.data_lag_weeks)
    config = model.config
    events, coverage = scope(events, coverage, config.data)
    countries = sorted(config.data.countries or set(events["iso3"].astype(str)))
    _check_no_lookahead(model, coverage, countries, cutoff)
    events_asof, coverage_asof = clip_to_cutoff(events, coverage, cutoff)
    fresh = freshness(coverage_asof, countries, cutoff)
    stale = stale_countries(fresh)
    if stale >= set(countries):
        latest = latest_publishable_week(coverage, countries, cutoff.lag)
        raise NothingToPublish(
            f"no country has data covering {week_label(cutoff.last_week.date())} (the last data week of "
            f"{week_label(origin.date())} with a {cutoff.lag}-week lag, as of {cutoff.as_of}): "
            f"{_ends(fresh)}. The latest week these data support is {week_label(latest.date())}"
        )
    inputs = origin_inputs(events_asof, coverage_asof, boundaries, config, model.feature_spec, cutoff)
    forecasts = validate_forecasts(model.predict(inputs.features), f"model {model.name} v{model.version}")
    scores, no_score, notes = _scores(forecasts, inputs.regions, stale)
    files = [p for p in (config.data.boundaries,) if p is not None]
    fingerprint = data_fingerprint(events_asof, coverage_asof, files)
    rules = publication_rules(model, inputs.features, options.rules)
    context = _Context(model, inputs, fresh, boundaries, settings, options, rules)
    done = _record_and_write(origin, scores, fingerprint, cutoff, store, context)
    return PublishResult(
        publication=done.publication,
        folder=done.folder,
        created=done.publication.is_new,
        rebuilt=done.rebuilt,
        cutoff=cutoff,
        withheld=tuple(sorted(stale & set(countries))),
        no_score=no_score,
        alerts=done.alerts,
        top=done.top,
        horizon=headline_horizon(config.horizons),
        previous_week=done.previous_week,
        files=done.files,
        notes=tuple(notes),
        alert_scope=_alert_scope(store, done.publication, context),
    )


@dataclass(frozen=True)
class _Context:
    model: PublishModel
    inputs: ModelInputs
    freshness: pd.DataFrame
    boundaries: object
    settings: Settings
    options: PublishOptions
    rules: AlertRules | None


@dataclass(frozen=True)
class _Done:
    publication: Publication
    folder: Path
    rebuilt: bool
    alerts: pd.DataFrame
    top: pd.DataFrame
    previous_week: str | None
    files: dict[str, Path]


def _record_and_write(
    origin: pd.Timestamp,
    scores: pd.DataFrame,
    fingerprint: str,
    cutoff: DataCutoff,
    store: ScoreStore,
    ctx: _Context,
) -> _Done:
    """Record the publication and its alerts and write its folder, all or nothing (module docstring)."""
    staging: Path | None = None
    final: Path | None = None
    try:
        with store.transaction():
            pub = store.record_publication(
                origin.date(), scores, ctx.model.name, ctx.model.version, fingerprint, cutoff.as_of
            )
            final = revision_dir(ctx.settings.home, pub.week_label, pub.revision)
            if not pub.is_new and final.is_dir():  # the same publication, files in place: nothing to do
                alerts = store.alerts(publication_id=pub.id)
                return _Done(pub, final, False, alerts, *_top(store, pub, ctx), {})
            scope = _alert_scope(store, pub, ctx)
            if pub.is_new:
                clear_leftovers(final.parent, pub.revision)
                alerts = _record_alerts(store, pub, ctx, scope)
            else:  # recorded earlier but its folder is gone: write the files again from the store
                alerts = store.alerts(publication_id=pub.id)
            staging = staging_dir(final)
            written = write_publication_files(staging, _files(store, pub, alerts, ctx, scope))
            promote(staging, final)
            files = {k: final / p.relative_to(staging) for k, p in written.items()}
            done = _Done(pub, final, not pub.is_new, alerts, *_top(store, pub, ctx), files)
    except BaseException:
        if staging is not None and final is not None:
            if not staging.exists():  # renamed into place before the failure: it names no recorded revision
                remove_tree(final)
            remove_tree(staging)
        raise
    return done


def publication_rules(
    model: PublishModel, features: pd.DataFrame, base: AlertRules | None
) -> AlertRules | None:
    """Return the alert rules of a publication: ``base``, else the levels the model carries, restricted to
    its targets and horizons; the escalation rule only when the features hold each region's recent rate."""
    from forecasting.alert_stats import escalation_features

    config = model.config
    rules = base if base is not None else AlertRules(levels=model.alert_levels)
    needed = escalation_features(rules.any_target, model.data_lag_weeks)
    if rules.escalation and not set(needed) <= set(features.columns):
        rules = replace(rules, escalation=False)  # a model trained without them: nothing to compare with
    return rules_for(config.targets, config.horizons, rules)


def _alert_scope(store: ScoreStore, pub: Publication, ctx: _Context) -> AlertScope:
    """Return whether alerts are evaluated for ``pub``: not for a backfill (a week before the latest one)."""
    latest = max((p.week for p in store.latest_publications()), default=pub.week)
    return alert_scope(ctx.rules, pub.week, latest)


def _record_alerts(store: ScoreStore, pub: Publication, ctx: _Context, scope: AlertScope) -> pd.DataFrame:
    """Evaluate and record this revision's alerts; none for a backfill (a week before the latest one)."""
    from forecasting.alert_stats import escalation_baseline

    rules = ctx.rules
    if rules is None or scope.status != "evaluated":
        return store.alerts(publication_id=pub.id)
    current = store.scores(pub.week, pub.revision)
    prev_pub = store.previous_publication(pub.week)
    previous = store.scores(prev_pub.week, prev_pub.revision) if prev_pub is not None else None
    baseline = None
    if rules.escalation:
        baseline = escalation_baseline(ctx.inputs.features, rules.horizons, ctx.model.data_lag_weeks)
    messages = evaluate_alerts(current, previous, store.open_alerts(), rules, baseline)
    return store.record_alerts(pub.id, messages)


def _report_alerts(store: ScoreStore, pub: Publication, alerts: pd.DataFrame) -> pd.DataFrame:
    """Return every alert in force in ``pub``'s week: its messages and the alerts standing without one."""
    history = store.alerts()
    before = history[history["publication_id"] < pub.id]
    return with_standing(alerts, alerts_in_force(before, pd.Timestamp(pub.week)))


def _files(
    store: ScoreStore, pub: Publication, alerts: pd.DataFrame, ctx: _Context, scope: AlertScope
) -> PublicationFiles:
    from publish.publication.drift import drift_watch
    from publish.publication.report_inputs import report_contexts
    from publish.render.cap import CapConfig

    scores = store.scores(pub.week, pub.revision)
    geometries = _geometries(ctx.boundaries)
    regions = ctx.inputs.regions
    centroids = {
        str(r): (float(lon), float(lat))
        for r, lat, lon in zip(regions["region_id"], regions["lat"], regions["lon"], strict=True)
        if pd.notna(lat) and pd.notna(lon)
    }
    prev_pub = store.previous_publication(pub.week)
    return PublicationFiles(
        publication=pub,
        scores=scores,
        alerts=alerts,
        reports=report_contexts(
            store,
            pub,
            scores,
            _report_alerts(store, pub, alerts) if scope.status == "evaluated" else alerts,
            ctx.model,
            ctx.inputs,
            ctx.freshness,
            ctx.boundaries,
            ctx.rules or AlertRules(levels=ctx.model.alert_levels),
            ctx.settings.languages,
            scope,
            drift_watch(store, ctx.settings, before=pub.week),
        ),
        unit=ctx.model.config.data.unit,
        geometries=geometries,
        centroids=centroids,
        cap_config=CapConfig.from_settings(status=ctx.options.cap_status, settings=ctx.settings),
        id_property=ctx.settings.boundary_id_property,
        pdf=ctx.settings.report_pdf,
        previous_week=prev_pub.week if prev_pub is not None else None,
    )


def _geometries(boundaries: object) -> dict:
    from publish.render.report_map import boundary_geometries

    return boundary_geometries(boundaries) if boundaries is not None else {}


def _top(store: ScoreStore, pub: Publication, ctx: _Context) -> tuple[pd.DataFrame, str | None]:
    """Return the top-risk table and the week label of the publication its changes compare with."""
    horizon = headline_horizon(ctx.model.config.horizons)
    scores = store.scores(pub.week, pub.revision, target=None, horizon=horizon)
    prev_pub = store.previous_publication(pub.week)
    previous = (
        store.scores(prev_pub.week, prev_pub.revision, target=HEADLINE_TARGET, horizon=horizon)
        if prev_pub is not None
        else None
    )
    label = prev_pub.week_label if prev_pub is not None else None
    return top_regions(scores, previous, horizon, ctx.options.top_n), label


def _scores(
    forecasts: pd.DataFrame, regions: pd.DataFrame, stale: set[str]
) -> tuple[pd.DataFrame, tuple[str, ...], list[str]]:
    """Return (publishable scores, regions without a score, notes): stale countries and NaN forecasts out."""
    reg = regions.assign(region_id=regions["region_id"].astype(str)).set_index("region_id")
    fc = forecasts.assign(region_id=forecasts["region_id"].astype(str))
    fc["iso3"] = reg["iso3"].astype(str).reindex(fc["region_id"]).to_numpy()
    fc["region_name"] = reg["name"].reindex(fc["region_id"]).to_numpy()
    unknown = sorted(set(fc.loc[fc["iso3"].isna(), "region_id"]))
    if unknown:
        raise ValueError(f"the model forecast regions missing from the region table: {unknown[:5]}")
    fresh = fc[~fc["iso3"].isin(sorted(stale))]
    bad = ~np.isfinite(fresh["p"].to_numpy(dtype=float))
    notes = []
    no_score: tuple[str, ...] = ()
    if bad.any():
        rows = fresh.loc[bad]
        no_score = tuple(sorted(set(rows["region_id"])))
        pairs = sorted({f"{t} h{h}" for t, h in zip(rows["target"], rows["horizon"], strict=True)})
        notes.append(
            f"{int(bad.sum())} forecasts were not numbers (NaN) and are not published: regions "
            f"{list(no_score[:10])}, targets {pairs[:6]}; they show as 'no score' (risk unknown, not low)"
        )
    return fresh.loc[~bad].reset_index(drop=True), no_score, notes


def _check_no_lookahead(
    model: PublishModel, coverage: pd.DataFrame, countries: list[str], cutoff: DataCutoff
) -> None:
    after = covered_weeks_after(coverage, countries, cutoff.last_week, model.data_end)
    if after:
        raise LookaheadError(
            f"model {model.name} v{model.version} was trained on data through the week of "
            f"{model.data_end.date()}, but week {week_label(cutoff.origin.date())} may only use data through "
            f"{cutoff.last_week.date()} ({_weeks(len(after))} in between, from {after[0].date()}); "
            "its scores would rest on outcomes not known at the time. Train a model with "
            f"--cutoff {cutoff.last_week.date()} and publish with --model-version"
        )


def _weeks(n: int) -> str:
    return "1 covered week lies" if n == 1 else f"{n} covered weeks lie"


def _ends(fresh: pd.DataFrame) -> str:
    parts = []
    for iso3, grp in fresh.groupby("iso3", sort=True):
        last = grp["last_date"].max()
        parts.append(f"{iso3} until {last.date()}" if pd.notna(last) else f"{iso3} none")
    return "data run " + ", ".join(parts)
