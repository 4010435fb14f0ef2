"""The report's evidence besides this week's scores: backtest skill and calibration of the published model,
verified past weeks, score histories, and per-region drivers.

Each function returns ``None`` (or an empty frame) when its source is absent, and the report says that there
is nothing to show; a source that exists but cannot be read raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from forecasting.metrics import reliability_table
from forecasting.targets import HEADLINE_TARGET
from publish.publication.model_source import backtest_forecasts

if TYPE_CHECKING:
    from experiments.inputs import ModelInputs
    from publish.alerting.rules import AlertRules
    from publish.publication.drift import DriftWatch
    from publish.publication.model_source import PublishModel
    from publish.render.report import ReportContext
    from publish.render.report_summary import AlertScope
    from publish.store.store import Publication, ScoreStore

DETAIL_REGIONS = 10
"""Regions (highest risk first) the report shows in detail: what changed and why, trend, drivers."""


@dataclass(frozen=True)
class BacktestEvidence:
    """Tidy backtest metrics, the backtested name of the published model, and its reliability bins."""

    metrics: pd.DataFrame
    model: str | None
    reliability: pd.DataFrame


def backtest_evidence(model: PublishModel, panel: pd.DataFrame, horizon: int) -> BacktestEvidence | None:
    """Return the published model's backtest scores and reliability (civ_any), or None without a run.

    Reliability bins are computed per horizon from the backtest run's forecasts of the model published at
    that horizon, against outcomes from ``panel`` (the publication's as-of panel: backtest weeks whose
    outcome was not known at the cut-off are left out).
    """
    if model.backtest_run_id is None or model.tracking_uri is None:
        return None
    from experiments.tracking import load_run_metrics
    from forecasting.targets import build_targets

    metrics = load_run_metrics(model.backtest_run_id, uri=model.tracking_uri)
    published = {h: m for (t, h), m in model.chosen.items() if t == HEADLINE_TARGET}
    forecasts = backtest_forecasts(model, HEADLINE_TARGET)
    parts = []
    for h, name in sorted(published.items()):
        fc = forecasts[(forecasts["horizon"] == h) & (forecasts["model"].astype(str) == name)]
        if fc.empty:
            continue
        origins = pd.DatetimeIndex(sorted(fc["week"].unique()))
        y = build_targets(panel, [h], [HEADLINE_TARGET], origins=origins)
        both = fc.merge(
            y.assign(region_id=y["region_id"].astype(str))[["region_id", "week", "y"]],
            on=["region_id", "week"],
        ).dropna(subset=["y"])
        if both.empty:
            continue
        bins = reliability_table(both["y"].to_numpy(), both["p"].to_numpy())
        parts.append(bins.assign(horizon=h, model=name, target=HEADLINE_TARGET))
    reliability = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return BacktestEvidence(
        metrics, published.get(horizon), reliability.drop(columns="model", errors="ignore")
    )


def verification_rows(store: ScoreStore, before: pd.Timestamp) -> pd.DataFrame:
    """Return the store's verifications of publications before ``before``, with their week labels."""
    v = store.verifications()
    if v.empty:
        return v
    pubs = {p.id: p for p in store.publications()}
    v = v[v["publication_id"].isin(pubs)].copy()
    v["week"] = [pd.Timestamp(pubs[int(i)].week) for i in v["publication_id"]]
    v["week_label"] = [pubs[int(i)].week_label for i in v["publication_id"]]
    return v[v["week"] < before].reset_index(drop=True)


def score_history(store: ScoreStore, region_ids: Sequence[str], horizon: int) -> pd.DataFrame:
    """Return region_id, week, p (civ_any at ``horizon``) of ``region_ids``, each week's latest revision."""
    frames = [store.region_history(r, horizon=horizon, target=HEADLINE_TARGET) for r in region_ids]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["region_id", "week", "p"])
    return pd.concat(frames, ignore_index=True)[["region_id", "week", "p"]]


def model_drivers(
    model: PublishModel, features: pd.DataFrame, target: str, horizon: int
) -> pd.DataFrame | None:
    """Return region_id, feature, contribution (log-odds: TreeSHAP for xgboost, coefficient x standardised
    feature for logistic) and value (the feature as the model saw it) of the published model of ``target``
    at ``horizon`` for every row of ``features``; None when that model has no per-row attribution."""
    from forecasting.explain import contributions, has_contributions

    fitted = None if model.bundle is None else model.bundle.models.get((target, horizon))
    if fitted is None or not has_contributions(fitted):
        return None
    contrib = contributions(fitted, features)
    contrib.insert(0, "region_id", features["region_id"].astype(str).to_numpy())
    long = contrib.melt(id_vars="region_id", var_name="feature", value_name="contribution")
    values = features.reindex(columns=["region_id", *contrib.columns[1:]]).assign(
        region_id=features["region_id"].astype(str).to_numpy()
    )
    seen = values.melt(id_vars="region_id", var_name="feature", value_name="value")
    long = long.merge(seen.drop_duplicates(["region_id", "feature"]), on=["region_id", "feature"], how="left")
    return long[long["contribution"] != 0].reset_index(drop=True)


def observed_harm(panel: pd.DataFrame, region_ids: Sequence[str], weeks: int = 104) -> pd.DataFrame:
    """Return the as-of panel's last ``weeks`` weeks of ``region_ids`` (civilians killed and the other
    measures): the report's trend charts, summaries and drivers' "before" windows read it."""
    last = pd.Timestamp(panel["week"].max())
    keep = panel["region_id"].astype(str).isin(list(region_ids)) & (
        pd.to_datetime(panel["week"]) > last - pd.Timedelta(weeks=weeks)
    )
    return panel[keep].reset_index(drop=True)


def report_contexts(
    store: ScoreStore,
    pub: Publication,
    scores: pd.DataFrame,
    alerts: pd.DataFrame,
    model: PublishModel,
    inputs: ModelInputs,
    fresh: pd.DataFrame,
    boundaries: object,
    rules: AlertRules,
    languages: Sequence[str],
    alert_scope: AlertScope,
    drift: DriftWatch | None = None,
) -> Mapping[str, ReportContext]:
    """Return the report of publication ``pub`` in each of ``languages``, with every piece of evidence the
    store, the as-of panel and MLflow hold (gathered once, laid out per language); ``drift``: the drift
    watch of the weeks verified before it (``publish.publication.drift``)."""
    from ingest.boundaries import load_countries
    from publish.publication.headline import headline_horizon
    from publish.render.report import build_report_context
    from publish.render.report_map import boundary_geometries

    horizon = headline_horizon(model.config.horizons)
    prev_pub = store.previous_publication(pub.week)
    previous = store.scores(prev_pub.week, prev_pub.revision) if prev_pub is not None else None
    head = scores[(scores["target"].astype(str) == HEADLINE_TARGET) & (scores["horizon"] == horizon)]
    leaders = list(head.sort_values(["p", "region_id"], ascending=[False, True])["region_id"].astype(str))
    evidence = backtest_evidence(model, inputs.panel, horizon)
    published = set(scores["region_id"].astype(str))
    rows = inputs.features[inputs.features["region_id"].astype(str).isin(published)]
    countries = load_countries()
    last_week = pd.Timestamp(inputs.panel["week"].max())
    evidence_kwargs = dict(
        previous_scores=previous,
        boundaries=boundary_geometries(boundaries) if boundaries is not None else None,
        countries=boundary_geometries(countries) if countries is not None else None,
        history=score_history(store, leaders[:DETAIL_REGIONS], horizon),
        observed=observed_harm(inputs.panel, leaders[:DETAIL_REGIONS]),
        data_end=last_week + pd.Timedelta(days=6),
        drivers=model_drivers(model, rows, HEADLINE_TARGET, horizon) if len(rows) else None,
        alerts=alerts,
        alert_scope=alert_scope,
        backtest_metrics=None if evidence is None else evidence.metrics,
        backtest_model=None if evidence is None else evidence.model,
        reliability=None if evidence is None else evidence.reliability,
        verification=verification_rows(store, before=pd.Timestamp(pub.week)),
        drift=drift.calibration if drift is not None else (),
        drift_weeks=len(drift.weeks) if drift is not None else 0,
        freshness=fresh,
        horizon=horizon,
        rules=rules,
        top_n=DETAIL_REGIONS,
    )
    return {
        lang: build_report_context(scores, pub, inputs.regions, lang=lang, **evidence_kwargs)
        for lang in languages
    }
