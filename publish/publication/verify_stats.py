"""What a verified week adds besides its scores: calibration sums per country and alert statistics.

Both are recorded as verification rows (metric, target, horizon, value, n) and are additive over weeks,
so the drift watch and the weekly summary sum the last weeks (``publish.publication.drift``):

- ``cal.<ISO3>.<stat>`` (target civ_any): ``forecasting.drift.calibration_sums`` of the country's regions.
- ``alerts.<rule>.<stat>`` (the rule's target): ``in_force`` alerts at the origin, ``hits`` (in force and
  the window had the event), ``positives`` (windows with the event), ``openings``, ``updates`` (messages of
  the week), ``onsets`` (episode onsets in the window's last week, ``forecasting.alert_stats``), ``warned``
  (onsets an alert covered) and ``lead_sum`` (their lead times, weeks). ``n``: regions with an outcome.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasting.alert_stats import QUIET_WEEKS, episodes, weekly_harm_from_panel
from forecasting.drift import calibration_sums
from forecasting.targets import HEADLINE_TARGET
from publish.alerting.rules import AlertRules, alerts_in_force

CAL_PREFIX = "cal."
ALERT_PREFIX = "alerts."
WEEK = pd.Timedelta(weeks=1)


def calibration_rows(
    scored: pd.DataFrame, target: str = HEADLINE_TARGET
) -> list[tuple[str, int, str, float, int]]:
    """Return (target, horizon, metric, value, n) rows of calibration sums per country of ``target``."""
    rows: list[tuple[str, int, str, float, int]] = []
    s = scored[(scored["target"].astype(str) == target)].dropna(subset=["y"])
    for (iso3, horizon), grp in s.groupby([s["iso3"].astype(str), "horizon"], sort=True):
        sums = calibration_sums(grp["p"].to_numpy(dtype=float), grp["y"].to_numpy(dtype=float))
        rows += [(target, int(horizon), f"{CAL_PREFIX}{iso3}.{k}", v, len(grp)) for k, v in sums.items()]
    return rows


def alert_rows(
    scored: pd.DataFrame,
    history: pd.DataFrame,
    panel: pd.DataFrame,
    origin: pd.Timestamp,
    rules: AlertRules,
) -> list[tuple[str, int, str, float, int]]:
    """Return (target, horizon, metric, value, n) alert statistics of the week of ``origin``.

    ``scored``: published scores with outcomes ``y``; ``history``: every alert message in the store;
    ``panel``: the weekly panel from ``QUIET_WEEKS`` weeks before ``origin`` to the windows' last week.
    """
    rows: list[tuple[str, int, str, float, int]] = []
    onsets = episodes(weekly_harm_from_panel(panel))
    hist = history.assign(region_id=history["region_id"].astype(str)) if len(history) else history
    for spec in rules.specs():
        for horizon in sorted(rules.horizons):
            s = scored[(scored["target"].astype(str) == spec.target) & (scored["horizon"] == horizon)]
            s = s.dropna(subset=["y"])
            if s.empty or rules.rule(spec.name, horizon) is None:
                continue
            stats = _rule_stats(s, _of(hist, spec.name, horizon), onsets, origin, horizon)
            prefix = f"{ALERT_PREFIX}{spec.name}."
            rows += [(spec.target, horizon, prefix + k, float(v), len(s)) for k, v in stats.items()]
    return rows


def _of(history: pd.DataFrame, rule: str, horizon: int) -> pd.DataFrame:
    if history.empty:
        return history
    return history[(history["rule"].astype(str) == rule) & (history["horizon"] == horizon)]


def _rule_stats(
    scored: pd.DataFrame, history: pd.DataFrame, onsets: pd.DataFrame, origin: pd.Timestamp, horizon: int
) -> dict[str, float]:
    regions = set(scored["region_id"].astype(str))
    y = dict(zip(scored["region_id"].astype(str), scored["y"].astype(float), strict=True))
    now = _in_force(history, origin)
    on = {r for r in now if r in regions}
    week_msgs = history[pd.to_datetime(history["week"]) == origin] if len(history) else history
    kinds = week_msgs["msg_type"].astype(str) if len(week_msgs) else pd.Series([], dtype=str)
    last = origin + (horizon - 1) * WEEK
    mine = onsets[onsets["region_id"].isin(regions) & (onsets["week"] == last)]
    warned, lead_sum = 0, 0.0
    by_origin = {t: _in_force(history, t) for t in (origin + i * WEEK for i in range(horizon))}
    for region in mine["region_id"]:
        for t in sorted(by_origin):  # the earliest origin whose window covers the onset
            first = by_origin[t].get(region)
            if first is not None:
                warned += 1
                lead_sum += (last - first) / WEEK
                break
    return {
        "in_force": float(len(on)),
        "hits": float(sum(y[r] >= 0.5 for r in on)),
        "positives": float(sum(v >= 0.5 for v in y.values())),
        "openings": float((kinds == "Alert").sum()),
        "updates": float((kinds == "Update").sum()),
        "onsets": float(len(mine)),
        "warned": float(warned),
        "lead_sum": float(lead_sum),
    }


def _in_force(history: pd.DataFrame, week: pd.Timestamp) -> dict[str, pd.Timestamp]:
    """Return region_id -> first week of its alert in force in ``week``."""
    live = alerts_in_force(history, week)
    if live.empty:
        return {}
    return dict(zip(live["region_id"].astype(str), pd.to_datetime(live["first_week"]), strict=True))


def episode_start(origin: pd.Timestamp) -> pd.Timestamp:
    """Return the first panel week verification needs to find episode onsets in the windows of ``origin``."""
    return pd.Timestamp(origin) - QUIET_WEEKS * WEEK


def alert_summary(sums: dict[str, float], weeks: int) -> dict[str, float]:
    """Return alert rate, alerts per week, precision, recall, Updates per alert per 4 weeks, onsets warned and
    mean lead time from summed ``alerts.<rule>.*`` statistics over ``weeks`` verified weeks (``n``: rows)."""
    n, on = sums.get("n", 0.0), sums.get("in_force", 0.0)
    nan = float("nan")
    return {
        "weeks": float(weeks),
        "alert_rate": on / n if n else nan,
        "alerts_per_week": on / weeks if weeks else nan,
        "precision": sums.get("hits", 0.0) / on if on else nan,
        "recall": sums.get("hits", 0.0) / sums["positives"] if sums.get("positives") else nan,
        "updates_per_alert_4w": sums.get("updates", 0.0) / (on / 4) if on else nan,
        "onsets": sums.get("onsets", 0.0),
        "onsets_warned": sums.get("warned", 0.0) / sums["onsets"] if sums.get("onsets") else nan,
        "lead_mean": sums.get("lead_sum", 0.0) / sums["warned"] if sums.get("warned") else nan,
    }


def group_sums(values: Sequence[tuple[str, float]]) -> dict[str, float]:
    """Return the sum of each statistic over rows of (stat, value)."""
    out: dict[str, float] = {}
    for k, v in values:
        out[k] = out.get(k, 0.0) + (float(v) if np.isfinite(v) else 0.0)
    return out
