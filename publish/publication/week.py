"""The weekly publication: champion model + data as of the cut-off -> scores, alerts, files, recorded once.

:func:`publish_week` is the job ``civrisk publish`` runs; :func:`publish_model_week` does the work for a
model and events already in memory (tests, benchmarks, the demo).

Steps: data cut-off (origin t = Monday of the week, last data week ``min(t, week(as_of)) - k``) -> events
and coverage clipped to it -> freshness per country (stale countries' regions are withheld) -> panel and
features at t -> forecasts of every target x horizon -> scores -> in ONE store transaction: the
publication, its alerts, and the revision folder written in a staging folder and renamed into place; the
transaction commits only after the rename. A failure before the rename rolls the store back and removes
the staging folder; a failure after it (or a process killed between the rename and the commit) leaves a
folder of a revision the store does not have, which is never deleted: it is set aside under
``<week>/.orphaned/`` (at once, or by the next publication of that week, which holds the store's write
lock) and the result's notes say where. An existing revision folder is never rewritten.

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
    data_volume,
    freshness,
    latest_publishable_week,
    origin_inputs,
    stale_countries,
    thin_countries,
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
    set_aside,
    staging_dir,
    write_publication_files,
)
from publish.publication.recalibrate import history_origins, recalibrate_publication
from publish.publication.region_status import Withheld, region_statuses
from publish.render.report_summary import AlertScope
from publish.store.faults import fault_point
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
    data_ends: Mapping[str, pd.Timestamp | None]
    """Per country of the model, the last day its data cover at the cut-off (None: no data at all), which
    says why a withheld country was withheld."""
    thin: Mapping[str, tuple[int, float]]
    """Countries withheld because their recent data fell far below their usual volume: iso3 -> (events in
    the last 4 data weeks, usual events per 4 weeks)."""
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
    # the store first: one that may not be used (e.g. empty beside published folders) is refused at once
    with ScoreStore.from_settings(settings) as store:
        model = load_publish_model(model_version, settings)
        events, coverage, shapes = load_model_events(model, events_dir)
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
    volume = data_volume(events_asof, sorted(set(countries) - stale), cutoff)
    thin = thin_countries(volume, settings.thin_data_share, settings.thin_data_min_volume)
    if thin and stale | set(thin) >= set(countries):
        raise NothingToPublish(
            f"held: the data of {week_label(cutoff.last_week.date())} and the 3 weeks before are too thin to "
            f"publish on ({_thin_text(thin)}); a partial or damaged file may have been ingested. Check the "
            "events store (civrisk ingest reports what each file added) and publish again"
        )
    stale |= set(thin)
    if stale >= set(countries):
        latest = latest_publishable_week(coverage, countries, cutoff.lag)
        raise NothingToPublish(
            f"no country has data covering {week_label(cutoff.last_week.date())} (the last data week of "
            f"{week_label(origin.date())} with a {cutoff.lag}-week lag, as of {cutoff.as_of}): "
            f"{_ends(fresh)}. The latest week these data support is {week_label(latest.date())}"
        )
    earlier = history_origins(model, cutoff.origin)
    inputs = origin_inputs(
        events_asof, coverage_asof, boundaries, config, model.feature_spec, cutoff, earlier
    )
    forecasts = recalibrate_publication(model, inputs.features, inputs.panel, cutoff.origin)
    forecasts = validate_forecasts(forecasts.drop(columns="p_raw"), f"model {model.name} v{model.version}")
    inputs = replace(inputs, features=inputs.features[inputs.features["week"] == cutoff.origin])
    scores, no_score, notes = _scores(forecasts, inputs.regions, stale)
    files = [p for p in (config.data.boundaries,) if p is not None]
    fingerprint = data_fingerprint(events_asof, coverage_asof, files)
    rules = publication_rules(model, inputs.features, options.rules)
    withheld = frozenset(stale & set(countries))
    data_ends = _data_ends(fresh, countries)
    why = Withheld(data_ends=data_ends, thin=thin, last_week=cutoff.last_week)
    context = _Context(model, inputs, fresh, boundaries, settings, options, rules, withheld, why)
    done = _record_and_write(origin, scores, fingerprint, cutoff, store, context)
    return PublishResult(
        publication=done.publication,
        folder=done.folder,
        created=done.publication.is_new,
        rebuilt=done.rebuilt,
        cutoff=cutoff,
        withheld=tuple(sorted(withheld)),
        data_ends=data_ends,
        thin=thin,
        no_score=no_score,
        alerts=done.alerts,
        top=done.top,
        horizon=headline_horizon(config.horizons),
        previous_week=done.previous_week,
        files=done.files,
        notes=(*notes, *done.notes),
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
    withheld: frozenset[str]
    why: Withheld


@dataclass(frozen=True)
class _Done:
    publication: Publication
    folder: Path
    rebuilt: bool
    alerts: pd.DataFrame
    top: pd.DataFrame
    previous_week: str | None
    files: dict[str, Path]
    notes: tuple[str, ...] = ()


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
            notes: tuple[str, ...] = ()
            if pub.is_new:
                notes = tuple(
                    f"a folder of revision {pub.revision} that the store does not record (left by a publish "
                    f"killed before it committed, or by a store restored from an older backup) was kept "
                    f"aside at {new}"
                    for _old, new in clear_leftovers(final.parent, pub.revision)
                )
                alerts = _record_alerts(store, pub, ctx, scope)
                fault_point("alerts-recorded")
            else:  # recorded earlier but its folder is gone: write the files again from the store
                alerts = store.alerts(publication_id=pub.id)
            staging = staging_dir(final)
            written = write_publication_files(staging, _files(store, pub, alerts, ctx, scope))
            fault_point("files-written")
            promote(staging, final)
            fault_point("promoted")
            files = {k: final / p.relative_to(staging) for k, p in written.items()}
            done = _Done(pub, final, not pub.is_new, alerts, *_top(store, pub, ctx), files, notes)
    except BaseException:
        if staging is not None and final is not None:
            if not staging.exists() and final.exists():
                set_aside(final)  # renamed into place before the failure: it names no recorded revision
            remove_tree(staging)
        raise
    fault_point("committed")
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
        statuses=region_statuses(
            regions, set(scores["region_id"].astype(str)), set(ctx.withheld), ctx.why, _codes(ctx.boundaries)
        ),
    )


def _codes(boundaries: object) -> dict[str, str]:
    """Return region id -> standard code (ISO 3166-2, P-code) for the regions whose boundaries carry one."""
    frame = getattr(boundaries, "regions", None)
    if frame is None or "code" not in frame.columns:
        return {}
    known = frame[frame["code"].notna()]
    return dict(zip(known["region_id"].astype(str), known["code"].astype(str), strict=True))


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


def _thin_text(thin: Mapping[str, tuple[int, float]]) -> str:
    return ", ".join(
        f"{c}: {n} events against a usual {u:.0f} per 4 weeks" for c, (n, u) in sorted(thin.items())
    )


def _data_ends(fresh: pd.DataFrame, countries: list[str]) -> dict[str, pd.Timestamp | None]:
    """Return per country the latest day any of its sources covers (None when it has no window)."""
    last = fresh.groupby(fresh["iso3"].astype(str))["last_date"].max()
    return {c: (pd.Timestamp(last[c]) if c in last.index and pd.notna(last[c]) else None) for c in countries}


def _ends(fresh: pd.DataFrame) -> str:
    parts = []
    for iso3, grp in fresh.groupby("iso3", sort=True):
        last = grp["last_date"].max()
        parts.append(f"{iso3} until {last.date()}" if pd.notna(last) else f"{iso3} none")
    return "data run " + ", ".join(parts)
