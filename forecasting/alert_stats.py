"""How alerts did: alert rate, precision, recall, lead time and Updates per alert, on a backtest's forecasts.

Definitions (docs/BACKTEST.md "Alert statistics"; the same in verification, publish.publication.verify):

- **alert weeks**: region-weeks (origins) with an alert in force; **alert rate** = alert weeks / region-weeks;
  **alerts per week** = alert weeks / origin weeks.
- **precision**: share of alert weeks whose forecast window (the h-week outcome) had civilian deaths;
  **recall**: share of region-weeks with deaths in the window that had an alert in force.
- **episode onset**: a covered week with civilian deaths after ``QUIET_WEEKS`` covered weeks without any.
  It is **warned** when an alert was in force at an origin t with t <= w <= t + h - 1 (its forecast
  window covers the onset week w); **lead time** = w minus the week that alert opened.
- **Updates per alert per 4 weeks**: Update messages / (alert weeks / 4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from forecasting.alert_levels import AlertLevels, LevelRule, simulate
from forecasting.targets import HEADLINE_TARGET

QUIET_WEEKS = 8
"""Covered weeks without civilian deaths before a week with deaths starts a new episode."""
ESCALATION_BASELINE = "recent_climatology"
"""The baseline the escalation rule measures p against: the region's own rate over the last 52 weeks."""
ALERT_METRICS = (
    "region_weeks",
    "alert_weeks",
    "alert_rate",
    "alerts_per_week",
    "openings_per_week",
    "precision",
    "recall",
    "updates",
    "updates_per_alert_4w",
    "onsets",
    "onsets_warned",
    "lead_median",
    "lead_mean",
)
"""The statistics :func:`alert_metrics` returns, in table order."""


def weekly_harm(actuals: pd.DataFrame, target: str = HEADLINE_TARGET) -> pd.DataFrame | None:
    """Return region_id, week, harm (1: civilians killed that week) from the h = 1 labels, None without them.

    Weeks without a label (outside coverage) are absent, which :func:`episodes` reads as not covered.
    """
    one = actuals[(actuals["target"].astype(str) == target) & (actuals["horizon"] == 1)]
    if one.empty:
        return None
    return pd.DataFrame(
        {"region_id": one["region_id"].astype(str).to_numpy(), "week": one["week"], "harm": one["y"]}
    ).drop_duplicates(["region_id", "week"])


def weekly_harm_from_panel(panel: pd.DataFrame) -> pd.DataFrame:
    """Return region_id, week, harm (civilians killed; NaN in weeks outside coverage) from a weekly panel."""
    harm = panel["civ_deaths"].astype("float64").where(panel["covered"].astype(bool))
    return pd.DataFrame(
        {"region_id": panel["region_id"].astype(str).to_numpy(), "week": panel["week"], "harm": harm}
    )


def episodes(weekly: pd.DataFrame, quiet_weeks: int = QUIET_WEEKS) -> pd.DataFrame:
    """Return the episode onsets (region_id, week) in ``weekly`` (region_id, week, harm; NaN or absent =
    not covered): covered weeks with harm > 0 after ``quiet_weeks`` covered weeks with none."""
    rows = []
    for region, d in weekly.groupby(weekly["region_id"].astype(str), sort=True):
        d = d.set_index(pd.to_datetime(d["week"]))["harm"].astype("float64").sort_index()
        d = d.reindex(pd.date_range(d.index.min(), d.index.max(), freq="7D"))
        h = d.to_numpy()
        quiet = pd.Series((h == 0).astype("float64")).rolling(quiet_weeks).sum().shift(1).to_numpy()
        onset = (h > 0) & (quiet == quiet_weeks)
        rows += [(region, w) for w in d.index[onset]]
    return pd.DataFrame(rows, columns=["region_id", "week"]).astype({"week": "datetime64[ns]"})


def alert_metrics(states: pd.DataFrame, onsets: pd.DataFrame, horizon: int) -> dict[str, float]:
    """Return :data:`ALERT_METRICS` of simulated alerts (``simulate`` output with the outcome ``y``).

    ``onsets``: episode onsets to judge (those of the regions and weeks ``states`` cover).
    """
    n = len(states)
    n_weeks = states["week"].nunique()
    act = states["active"].to_numpy(dtype=bool)
    y = states["y"].to_numpy(dtype="float64")
    alert_weeks = int(act.sum())
    opened = int((states["msg"] == "Alert").sum())
    updates = int((states["msg"] == "Update").sum())
    warned, leads = _warned(states, onsets, horizon)
    return {
        "region_weeks": float(n),
        "alert_weeks": float(alert_weeks),
        "alert_rate": alert_weeks / n if n else np.nan,
        "alerts_per_week": alert_weeks / n_weeks if n_weeks else np.nan,
        "openings_per_week": opened / n_weeks if n_weeks else np.nan,
        "precision": float(y[act].mean()) if alert_weeks else np.nan,
        "recall": float(act[y == 1].mean()) if (y == 1).any() else np.nan,
        "updates": float(updates),
        "updates_per_alert_4w": updates / (alert_weeks / 4) if alert_weeks else np.nan,
        "onsets": float(len(onsets)),
        "onsets_warned": warned / len(onsets) if len(onsets) else np.nan,
        "lead_median": float(np.median(leads)) if leads else np.nan,
        "lead_mean": float(np.mean(leads)) if leads else np.nan,
    }


def _warned(states: pd.DataFrame, onsets: pd.DataFrame, horizon: int) -> tuple[int, list[int]]:
    """Return (onsets warned, their lead times in weeks): the earliest origin whose window covers it wins."""
    on = states[states["active"].to_numpy(dtype=bool)]
    regions = on["region_id"].to_numpy(dtype=object).astype(str)
    days = _days(on["week"])
    opened = dict(zip(zip(regions, days, strict=True), _days(on["open_week"]), strict=True))
    warned, leads = 0, []
    onset_regions = onsets["region_id"].to_numpy(dtype=object).astype(str)
    for region, w in zip(onset_regions, _days(onsets["week"]), strict=True):
        for lag in range(horizon - 1, -1, -1):
            first = opened.get((region, w - 7 * lag))
            if first is not None:
                warned += 1
                leads.append(int((w - first) // 7))
                break
    return warned, leads


def _days(weeks: pd.Series) -> list[int]:
    """Return dates as whole days since 1970 (fast dictionary keys)."""
    return pd.to_datetime(weeks).to_numpy().astype("datetime64[D]").astype("int64").tolist()


def rule_frame(
    forecasts: pd.DataFrame,
    actuals: pd.DataFrame,
    model: str,
    horizon: int,
    rule: str,
    target: str = HEADLINE_TARGET,
) -> pd.DataFrame:
    """Return region_id, week, p, signal, y of ``model``'s ``target`` forecasts at ``horizon`` for ``rule``
    ("level": signal = p; "escalation": signal = p minus the recent climatology at the same origin)."""
    fc = forecasts[(forecasts["target"].astype(str) == target) & (forecasts["horizon"] == horizon)]
    keys = ["region_id", "week"]
    mine = fc[fc["model"].astype(str) == model][[*keys, "p"]]
    if mine.empty:
        raise ValueError(
            f"the forecasts hold no {model!r} rows of {target} at h={horizon}; models there: "
            f"{sorted(set(fc['model'].astype(str)))}"
        )
    act = actuals[(actuals["target"].astype(str) == target) & (actuals["horizon"] == horizon)][[*keys, "y"]]
    out = mine.merge(act, on=keys, how="left")
    if rule == "level":
        out["signal"] = out["p"]
    elif rule == "escalation":
        base = fc[fc["model"].astype(str) == ESCALATION_BASELINE][[*keys, "p"]]
        if base.empty:
            raise ValueError(
                f"the escalation rule needs the {ESCALATION_BASELINE} baseline's forecasts of {target} at "
                f"h={horizon}; run the backtest with that baseline (forecasting.plan.BASELINES)"
            )
        out = out.merge(base.rename(columns={"p": "base"}), on=keys, how="left")
        out["signal"] = out["p"] - out["base"]
    else:
        raise ValueError(f"unknown alert rule {rule!r}; expected 'level' or 'escalation'")
    return out.assign(region_id=out["region_id"].astype(str)).dropna(subset=["y"])


def rule_metrics(
    frame: pd.DataFrame,
    rule: LevelRule,
    onsets: pd.DataFrame | None,
    horizon: int,
    subsets: Mapping[str, set[str]] | None = None,
) -> dict[str, dict[str, float]]:
    """Return subset -> :func:`alert_metrics` of ``rule`` run over every region of ``frame`` (``rule_frame``),
    scored on all rows ("all") and on each subset's regions (the alert states do not depend on the subset)."""
    states = simulate(frame, rule)
    lo, hi = states["week"].min(), states["week"].max()
    out = {}
    for name, regions in {"all": None, **(subsets or {})}.items():
        st = states if regions is None else states[states["region_id"].isin(regions)]
        on = pd.DataFrame(columns=["region_id", "week"]) if onsets is None else onsets
        on = on[on["region_id"].isin(set(st["region_id"])) & on["week"].between(lo, hi)]
        m = alert_metrics(st, on, horizon)
        if onsets is None:
            m.update(onsets=np.nan, onsets_warned=np.nan, lead_median=np.nan, lead_mean=np.nan)
        out[name] = m
    return out


def backtest_alert_table(
    forecasts: pd.DataFrame,
    actuals: pd.DataFrame,
    levels: AlertLevels,
    models: Mapping[int, str],
    regions: Mapping[str, str] | None = None,
    weekly: pd.DataFrame | None = None,
    target: str = HEADLINE_TARGET,
) -> pd.DataFrame:
    """Return the alert statistics of a backtest (``BacktestResult.forecasts``, ``.actuals``), tidy.

    The rules of ``levels`` are simulated over the test origins on the forecasts of ``models`` (horizon ->
    the model published there). Columns: model, target, horizon, rule, subset ("all", or a country's ISO3
    when ``regions`` maps region_id -> ISO3), metric (:data:`ALERT_METRICS`), value, and the rule in words.
    Episode onsets come from ``weekly`` (``weekly_harm_from_panel``), else from the h = 1 labels.
    """
    harm = weekly if weekly is not None else weekly_harm(actuals, target)
    onsets = episodes(harm) if harm is not None else None
    subsets: dict[str, set[str]] = {}
    for region, iso3 in (regions or {}).items():
        subsets.setdefault(str(iso3), set()).add(str(region))
    rows = []
    for horizon, model in sorted(models.items()):
        at = levels.at(horizon)
        for name, rule in (("level", at.level), ("escalation", at.escalation)):
            if rule is None:
                continue
            frame = rule_frame(forecasts, actuals, model, horizon, name, target)
            for subset, m in rule_metrics(frame, rule, onsets, horizon, subsets).items():
                rows += [
                    (model, target, horizon, name, subset, metric, m[metric], rule.label())
                    for metric in ALERT_METRICS
                ]
    columns = ["model", "target", "horizon", "rule", "subset", "metric", "value", "levels"]
    return pd.DataFrame(rows, columns=columns)


def escalation_baseline(
    features: pd.DataFrame, horizons: Sequence[int], data_lag_weeks: int, target: str = HEADLINE_TARGET
) -> pd.DataFrame:
    """Return region_id, horizon, base: the recent climatology of ``target`` from the feature rows of one
    origin, the same baseline a backtest forecasts (the escalation rule's reference at publish time)."""
    from forecasting.baselines import RecentClimatology
    from forecasting.catalog import make_model

    parts = []
    for h in horizons:
        model = make_model(ESCALATION_BASELINE, target, int(h), data_lag_weeks=data_lag_weeks)
        assert isinstance(model, RecentClimatology), "the catalog's recent_climatology is binary here"
        parts.append(
            pd.DataFrame(
                {
                    "region_id": features["region_id"].astype(str).to_numpy(),
                    "horizon": int(h),
                    "base": model.probability(features),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def escalation_features(target: str, data_lag_weeks: int) -> list[str]:
    """Return the feature columns the escalation baseline of ``target`` reads (the same at any horizon)."""
    from forecasting.baselines import RecentClimatology
    from forecasting.catalog import make_model

    model = make_model(ESCALATION_BASELINE, target, 1, data_lag_weeks=data_lag_weeks)
    assert isinstance(model, RecentClimatology), "the catalog's recent_climatology is binary here"
    return [model.weeks_feature, model.covered_feature]
