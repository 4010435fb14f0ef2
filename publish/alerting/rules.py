"""Alert rules and their weekly evaluation: which regions open, keep or close an alert this week.

Three rules, each applied per region, target and horizon (docs/PUBLISHING.md):

- ``threshold``: ``civ_any`` probability at or above :attr:`AlertRules.threshold`.
- ``rise``: ``civ_any`` probability up by at least :attr:`AlertRules.rise` since last week's publication.
- ``mass``: ``civ_mass`` (a week with >= 10 civilians killed) probability at or above :attr:`AlertRules.mass`.

An alert opens at a *level* (the threshold; for ``rise``, last week's p plus the rise) and holds while
``p >= level - hysteresis``. Each week it holds it gets an Update (same ``alert_id``); when p falls below
that, or the region has no score any more, a Cancel closes it. A later crossing opens a new alert with a
new ``alert_id`` (it names the week the alert opened).

:func:`evaluate_alerts` is pure: scores in, messages out. The store numbers and links the messages
(:meth:`publish.store.store.ScoreStore.record_alerts`) and :mod:`publish.render.cap` turns them into CAP 1.2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

import numpy as np
import pandas as pd

from civrisk.contracts import ALERTS, validate_alerts
from civrisk.weeks import parse_week, week_label
from forecasting.targets import GROUP_TARGET_GROUPS, HEADLINE_TARGET

MESSAGE_COLUMNS = tuple(ALERTS.columns)
"""Columns of :func:`evaluate_alerts`' result; ``drivers`` is JSON ``[[group, p], ...]`` or None."""

OPEN_ALERT_COLUMNS = ("alert_id", "rule", "region_id", "iso3", "target", "horizon", "level", "first_week")
"""Columns :func:`evaluate_alerts` needs from each open alert (the store's ``open_alerts()`` has them)."""

_SCORE_COLUMNS = ("region_id", "iso3", "week", "horizon", "target", "p")
_KEY = ["region_id", "target", "horizon"]


@dataclass(frozen=True)
class RuleSpec:
    """One rule: ``kind`` "level" (p >= value) or "rise" (p - p_prev >= value) on ``target``."""

    name: str
    kind: str
    target: str
    value: float


@dataclass(frozen=True)
class AlertRules:
    """Alert configuration, declared once; set a rule's value to None to switch it off."""

    threshold: float | None = 0.5
    """civ_any probability at or above which a ``threshold`` alert opens."""
    rise: float | None = 0.2
    """Week-over-week increase of civ_any probability that opens a ``rise`` alert."""
    mass: float | None = 0.25
    """civ_mass probability at or above which a ``mass`` alert opens."""
    hysteresis: float = 0.1
    """An open alert closes only when p falls below its opening level minus this margin."""
    horizons: tuple[int, ...] = (1, 4)
    """Horizons (weeks) the rules watch."""
    any_target: str = HEADLINE_TARGET
    mass_target: str = "civ_mass"

    def __post_init__(self) -> None:
        for name in ("threshold", "rise", "mass"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 1:
                raise ValueError(f"AlertRules.{name} must be in (0, 1] or None (off); got {value}")
        if not 0 <= self.hysteresis < 1:
            raise ValueError(f"AlertRules.hysteresis must be in [0, 1); got {self.hysteresis}")
        if not self.horizons or any(int(h) != h or h < 1 for h in self.horizons):
            raise ValueError(f"AlertRules.horizons must be whole numbers of weeks >= 1; got {self.horizons}")

    def specs(self) -> tuple[RuleSpec, ...]:
        """Return the active rules."""
        specs = (
            ("threshold", "level", self.any_target, self.threshold),
            ("rise", "rise", self.any_target, self.rise),
            ("mass", "level", self.mass_target, self.mass),
        )
        return tuple(RuleSpec(n, k, t, v) for n, k, t, v in specs if v is not None)


def alert_id(
    region_id: str, rule: str, target: str, horizon: int, first_week: pd.Timestamp, revision: int = 1
) -> str:
    """Return the stable id of the alert opened in ``first_week``: no spaces, commas, '<' or '&' (CAP).

    An alert opened by a later revision of the week gets an ``r<revision>`` suffix, so an alert that a
    revision cancelled and a further revision reopens does not reuse the cancelled alert's id.
    """
    safe_region = quote(str(region_id), safe="-_.:~")
    suffix = "" if revision == 1 else f"r{int(revision)}"
    return (
        f"civrisk-{safe_region}-{rule}-{target}-h{int(horizon)}-{week_label(parse_week(first_week))}{suffix}"
    )


def evaluate_alerts(
    current_scores: pd.DataFrame,
    previous_scores: pd.DataFrame | None,
    open_alerts: pd.DataFrame | None,
    rules: AlertRules = AlertRules(),
) -> pd.DataFrame:
    """Return this week's alert messages (:data:`MESSAGE_COLUMNS`), one per alert that opens, holds or closes.

    Args:
        current_scores: this week's scores (SCORES layout: region_id, iso3, week, horizon, target, p;
            region_name and revision used when present, as ``ScoreStore.scores()`` gives them).
        previous_scores: last week's scores, for the ``rise`` rule and ``p_prev`` (None or empty: none).
        open_alerts: the latest message of every open alert (:data:`OPEN_ALERT_COLUMNS`).
        rules: thresholds, hysteresis and horizons.
    """
    cur = _scores(current_scores, "current_scores")
    weeks = cur["week"].unique()
    if len(weeks) != 1:
        raise ValueError(
            f"current_scores hold {len(weeks)} weeks {sorted(map(str, weeks))[:3]}; expected one"
        )
    week = pd.Timestamp(weeks[0])
    revisions = set(current_scores["revision"]) if "revision" in current_scores.columns else {1}
    if len(revisions) != 1:
        raise ValueError(f"current_scores hold revisions {sorted(revisions)}; expected one publication")
    revision = int(revisions.pop())
    present = sorted(set(cur["horizon"]) & set(rules.horizons))
    if not present:
        raise ValueError(
            f"current_scores have no horizon the alert rules watch {list(rules.horizons)} (they have "
            f"{sorted(set(cur['horizon']))}); set AlertRules(horizons=...)"
        )
    prev = None
    if previous_scores is not None and len(previous_scores):
        prev = _scores(previous_scores, "previous_scores")
        if (prev["week"] >= week).any():
            raise ValueError(
                f"previous_scores must be from weeks before {week.date()}; "
                f"got {sorted(set(prev['week'].astype(str)))[:3]}"
            )
        prev = prev[_KEY + ["p"]].rename(columns={"p": "p_prev"})
    opened = _open(open_alerts)
    drivers = _drivers(cur)

    parts = []
    for spec in rules.specs():
        cand = cur[(cur["target"] == spec.target) & cur["horizon"].isin(rules.horizons)]
        if not len(cand):
            raise ValueError(
                f"alert rule {spec.name!r} watches target {spec.target!r} at horizons "
                f"{list(rules.horizons)}, which current_scores lack "
                f"(targets: {sorted(set(cur['target']))}); "
                f"switch the rule off with AlertRules({spec.name}=None)"
            )
        cand = cand[[*_KEY, "iso3", "region_name", "p"]]
        cand = cand.merge(prev, on=_KEY, how="left") if prev is not None else cand.assign(p_prev=np.nan)
        open_r = opened[opened["rule"] == spec.name]
        parts.append(_evaluate_rule(spec, cand, open_r, week, revision, rules.hysteresis))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(MESSAGE_COLUMNS))
    out["drivers"] = [drivers.get((r, h)) for r, h in zip(out["region_id"], out["horizon"], strict=True)]
    out = out.sort_values(["rule", "region_id", "target", "horizon"], kind="mergesort").reset_index(drop=True)
    return _typed(out)


def _evaluate_rule(
    spec: RuleSpec,
    cand: pd.DataFrame,
    opened: pd.DataFrame,
    week: pd.Timestamp,
    revision: int,
    hysteresis: float,
) -> pd.DataFrame:
    m = cand.merge(opened, on=_KEY, how="outer", suffixes=("", "_open"), indicator=True)
    m["iso3"] = m["iso3"].fillna(m["iso3_open"])
    m["region_name"] = m["region_name"].fillna(m["region_name_open"])
    m["rule"] = spec.name
    m["week"] = week
    floor = m["level"] - hysteresis
    msgs = []

    fresh = m[m["_merge"] == "left_only"].copy()
    if spec.kind == "level":
        fresh = fresh[fresh["p"] >= spec.value]
        fresh["level"] = spec.value
        fresh["reason"] = [f"p {p:.2f} reached the alert level {spec.value:.2f}" for p in fresh["p"]]
    else:
        fresh = fresh[(fresh["p"] - fresh["p_prev"]) >= spec.value]
        fresh["level"] = fresh["p_prev"] + spec.value
        fresh["reason"] = [
            f"p rose from {a:.2f} to {b:.2f} in a week (alert on a rise of {spec.value:.2f})"
            for a, b in zip(fresh["p_prev"], fresh["p"], strict=True)
        ]
    fresh["first_week"] = week
    fresh["alert_id"] = [
        alert_id(r, spec.name, tg, h, week, revision)
        for r, tg, h in zip(fresh["region_id"], fresh["target"], fresh["horizon"], strict=True)
    ]
    fresh["msg_type"] = "Alert"
    msgs.append(fresh)

    both = m[m["_merge"] == "both"].copy()
    holds = both["p"] >= floor[both.index]
    both["msg_type"] = np.where(holds, "Update", "Cancel")
    both["reason"] = [
        f"p {p:.2f} {'still at or above' if h else 'fell below'} {f:.2f}"
        for p, h, f in zip(both["p"], holds, floor[both.index], strict=True)
    ]
    msgs.append(both)

    gone = m[m["_merge"] == "right_only"].copy()
    gone["msg_type"] = "Cancel"
    gone["reason"] = "no score for this region, target and horizon this week (risk unknown, not low)"
    msgs.append(gone)
    return pd.concat([x[[c for c in MESSAGE_COLUMNS if c != "drivers"]] for x in msgs], ignore_index=True)


def _scores(df: pd.DataFrame, name: str) -> pd.DataFrame:
    missing = [c for c in _SCORE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lack columns {missing}; expected the SCORES layout {list(_SCORE_COLUMNS)}")
    out = df[list(_SCORE_COLUMNS)].copy()
    out["region_name"] = df["region_name"] if "region_name" in df.columns else pd.NA
    out["week"] = pd.to_datetime(out["week"])
    out["horizon"] = out["horizon"].astype("int64")
    out["p"] = out["p"].astype("float64")
    dup = out.duplicated(_KEY)
    if dup.any():
        raise ValueError(
            f"{name}: {int(dup.sum())} rows repeat a (region_id, target, horizon); expected one each"
        )
    return out


def _open(open_alerts: pd.DataFrame | None) -> pd.DataFrame:
    if open_alerts is None:
        open_alerts = pd.DataFrame(columns=list(OPEN_ALERT_COLUMNS))
    missing = [c for c in OPEN_ALERT_COLUMNS if c not in open_alerts.columns]
    if missing:
        raise ValueError(f"open_alerts lack columns {missing}; expected {list(OPEN_ALERT_COLUMNS)}")
    out = open_alerts[list(OPEN_ALERT_COLUMNS)].copy()
    out["region_name"] = open_alerts["region_name"] if "region_name" in open_alerts.columns else pd.NA
    out["level"] = out["level"].astype("float64")
    out["horizon"] = out["horizon"].astype("int64")
    out["first_week"] = pd.to_datetime(out["first_week"])
    dup = out.duplicated(["rule", *_KEY], keep=False)
    if dup.any():
        raise ValueError(
            f"open_alerts hold {int(dup.sum())} alerts that share a (rule, region_id, target, horizon), e.g. "
            f"{out.loc[dup, 'alert_id'].head(3).tolist()}; at most one alert per rule and region can be open"
        )
    return out


def _drivers(cur: pd.DataFrame) -> dict[tuple[str, int], str]:
    """Return (region_id, horizon) -> JSON [[group, p], ...] of perpetrator-group targets, highest first."""
    targets = {f"civ_any_{g}": g for g in GROUP_TARGET_GROUPS}
    g = cur[cur["target"].isin(list(targets))].sort_values(["p", "target"], ascending=[False, True])
    out: dict[tuple[str, int], list[list[object]]] = {}
    for r, h, tg, p in zip(g["region_id"], g["horizon"], g["target"], g["p"], strict=True):
        out.setdefault((r, int(h)), []).append([targets[tg], round(float(p), 4)])
    return {k: json.dumps(v) for k, v in out.items()}


def _typed(out: pd.DataFrame) -> pd.DataFrame:
    out = out.reindex(columns=list(MESSAGE_COLUMNS))
    for c in (
        "alert_id",
        "msg_type",
        "rule",
        "region_id",
        "iso3",
        "region_name",
        "target",
        "reason",
        "drivers",
    ):
        out[c] = out[c].astype("string")
    out["horizon"] = out["horizon"].astype("int64")
    for c in ("week", "first_week"):
        out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
    for c in ("p", "p_prev", "level"):
        out[c] = out[c].astype("float64")
    return validate_alerts(out, "evaluate_alerts")
