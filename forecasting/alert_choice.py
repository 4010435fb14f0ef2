"""Alert levels chosen on a model's own backtest, not fixed: the lowest level whose alerts keep a target
precision, and the escalation threshold that warns the most new episodes within an alert budget.

:func:`choose_alert_levels` is pure (forecasts and outcomes in, :class:`~forecasting.alert_levels.AlertLevels`
out); ``civrisk train`` runs it on the backtest of the models it fits and stores the result in the bundle,
so a retrained model re-derives its levels (docs/PUBLISHING.md "Alerts").
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from forecasting.alert_levels import (
    AlertLevels,
    HorizonLevels,
    LevelRule,
    default_horizon_levels,
    min_weeks_for,
)
from forecasting.alert_stats import episodes, rule_frame, rule_metrics, weekly_harm
from forecasting.targets import HEADLINE_TARGET

LEVEL_GRID = tuple(float(x) for x in np.round(np.arange(0.20, 0.901, 0.05), 2))
"""Enter levels tried for the level rule (probabilities)."""
ESCALATION_GRID = tuple(float(x) for x in np.round(np.arange(0.05, 0.401, 0.05), 2))
"""Enter thresholds tried for the escalation rule (p minus the region's recent rate)."""
MIN_ALERT_WEEKS = 20
"""Alert weeks a level needs in the backtest before its precision counts (fewer: too noisy to trust)."""


def choose_alert_levels(
    forecasts: pd.DataFrame,
    actuals: pd.DataFrame,
    models: Mapping[int, str] | None = None,
    *,
    target_precision: float = 0.70,
    exit_gap: float = 0.10,
    min_weeks: int = 4,
    tier_gap: float = 0.25,
    escalation_max_rate: float = 0.10,
    escalation_exit_gap: float = 0.05,
    weekly: pd.DataFrame | None = None,
    target: str = HEADLINE_TARGET,
) -> AlertLevels:
    """Return per horizon the alert levels chosen on backtest ``forecasts`` (with outcomes ``actuals``).

    Level rule: the lowest enter level on :data:`LEVEL_GRID` whose whole rule (exit ``enter - exit_gap``,
    at least ``min_weeks_for(h, min_weeks)`` weeks, a tier at ``enter + tier_gap``) keeps a precision of
    ``target_precision`` over at least :data:`MIN_ALERT_WEEKS` alert weeks; if none does, the most precise
    one. Escalation rule (when the recent climatology baseline was backtested): among the thresholds on
    :data:`ESCALATION_GRID` that alert on at most ``escalation_max_rate`` of region-weeks, the one that warns
    the most episode onsets (ties: the more precise), exit ``escalation_exit_gap`` lower; the default when
    no onsets can be found.

    Args:
        models: horizon -> the model whose forecasts are judged (the one published at that horizon);
            default: the only non-baseline model of each horizon.
        weekly: region_id, week, harm for episode onsets (``alert_stats.weekly_harm_from_panel``); default:
            from the h = 1 labels in ``actuals``.
    """
    if not 0 < target_precision < 1:
        raise ValueError(f"target_precision must be in (0, 1), e.g. 0.70; got {target_precision}")
    models = dict(models) if models is not None else _only_models(forecasts, target)
    harm = weekly if weekly is not None else weekly_harm(actuals, target)
    onsets = episodes(harm) if harm is not None else None
    chosen, notes = [], []
    for horizon, model in sorted(models.items()):
        mw = min_weeks_for(horizon, min_weeks)
        level, note = _level(
            forecasts, actuals, model, horizon, target, target_precision, exit_gap, mw, tier_gap
        )
        notes.append(note)
        esc = default_horizon_levels(horizon).escalation
        has_base = "recent_climatology" in set(forecasts["model"].astype(str))
        if has_base and onsets is not None and len(onsets):
            esc, note = _escalation(
                forecasts,
                actuals,
                model,
                horizon,
                target,
                onsets,
                mw,
                escalation_max_rate,
                escalation_exit_gap,
            )
            notes.append(note)
        chosen.append(HorizonLevels(horizon, level, esc))
    return AlertLevels(tuple(chosen), chosen_on="; ".join(notes))


def _only_models(forecasts: pd.DataFrame, target: str) -> dict[int, str]:
    from forecasting.plan import BASELINES

    fc = forecasts[forecasts["target"].astype(str) == target]
    out = {}
    for h, grp in fc.groupby("horizon", sort=True):
        names = sorted(set(grp["model"].astype(str)) - set(BASELINES) - {"zero"})
        if len(names) != 1:
            raise ValueError(
                f"choose_alert_levels needs the model published at h={h}; the forecasts hold {names}: "
                "pass models={horizon: name}"
            )
        out[int(h)] = names[0]
    return out


def _level(
    forecasts: pd.DataFrame,
    actuals: pd.DataFrame,
    model: str,
    horizon: int,
    target: str,
    target_precision: float,
    exit_gap: float,
    mw: int,
    tier_gap: float,
) -> tuple[LevelRule, str]:
    frame = rule_frame(forecasts, actuals, model, horizon, "level", target)
    tried = []
    for enter in LEVEL_GRID:
        tier = round(min(enter + tier_gap, 0.95), 2)
        rule = LevelRule(enter, round(max(enter - exit_gap, 0.01), 2), mw, (tier,) if tier > enter else ())
        m = rule_metrics(frame, rule, None, horizon)["all"]
        tried.append((rule, m))
        if m["alert_weeks"] >= MIN_ALERT_WEEKS and m["precision"] >= target_precision:
            return rule, (
                f"h{horizon} level {enter:.2f}: precision {m['precision']:.2f} >= {target_precision:.2f} "
                f"on {model}'s backtest ({int(m['alert_weeks'])} alert weeks, rate {m['alert_rate']:.2f})"
            )
    counted = [(r, m) for r, m in tried if m["alert_weeks"] >= MIN_ALERT_WEEKS] or tried
    rule, m = max(counted, key=lambda rm: (np.nan_to_num(rm[1]["precision"], nan=-1.0), -rm[0].enter))
    return rule, (
        f"h{horizon} level {rule.enter:.2f}: no level reached precision {target_precision:.2f} on {model}'s "
        f"backtest; the most precise one ({m['precision']:.2f}) is used"
    )


def _escalation(
    forecasts: pd.DataFrame,
    actuals: pd.DataFrame,
    model: str,
    horizon: int,
    target: str,
    onsets: pd.DataFrame,
    mw: int,
    max_rate: float,
    exit_gap: float,
) -> tuple[LevelRule, str]:
    frame = rule_frame(forecasts, actuals, model, horizon, "escalation", target)
    best: tuple[tuple[float, float], LevelRule, dict[str, float]] | None = None
    for enter in ESCALATION_GRID:
        rule = LevelRule(enter, round(enter - exit_gap, 2), mw)
        m = rule_metrics(frame, rule, onsets, horizon)["all"]
        if not m["alert_rate"] <= max_rate:
            continue
        key = (np.nan_to_num(m["onsets_warned"], nan=0.0), np.nan_to_num(m["precision"], nan=0.0))
        if best is None or key > best[0]:
            best = (key, rule, m)
    if best is None:
        rule = LevelRule(ESCALATION_GRID[-1], round(ESCALATION_GRID[-1] - exit_gap, 2), mw)
        return (
            rule,
            f"h{horizon} escalation +{rule.enter:.2f}: every threshold alerted on more than {max_rate:.0%}",
        )
    _, rule, m = best
    return rule, (
        f"h{horizon} escalation +{rule.enter:.2f}: warned {m['onsets_warned']:.0%} of "
        f"{int(m['onsets'])} onsets "
        f"at rate {m['alert_rate']:.2f} <= {max_rate:.2f}"
    )
