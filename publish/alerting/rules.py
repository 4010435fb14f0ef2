"""Alert rules and their weekly evaluation: which regions open an alert, move it a tier, or close it.

Three rules, each applied per region, target and watched horizon (docs/PUBLISHING.md "Alerts"):

- ``level``: ``civ_any`` probability, at the levels chosen on the model's backtest (carried by its bundle;
  :data:`forecasting.alert_levels.DEFAULT_LEVELS` for older bundles).
- ``escalation``: ``civ_any`` probability minus the region's own recent rate (the recent climatology at the
  same origin): risk well above what the region's last year alone suggests.
- ``mass``: ``civ_mass`` (a week with >= 10 civilians killed) probability.

Each rule opens at ``enter``, holds while its signal is >= ``exit`` and for at least ``min_weeks``, and sends
an Update only when the alert moves a tier (:mod:`forecasting.alert_levels` holds the transition, the same
one backtests simulate). A week in which an alert stands unchanged sends no message. When the signal falls
below ``exit`` after ``min_weeks``, when the region has no score, or when the rule no longer watches that
horizon, a Cancel closes the alert; a later crossing opens a new alert with a new ``alert_id``.

What an open alert carries across weeks is read back from its latest message in the store: its tier from
``level`` (the cut the alert stands at) and its age from ``first_week``.

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
from forecasting.alert_levels import (
    DEFAULT_LEVELS,
    MASS_RULE,
    AlertLevels,
    LevelRule,
    transition,
    weeks_open,
)
from forecasting.targets import GROUP_TARGET_GROUPS, HEADLINE_TARGET

MESSAGE_COLUMNS = tuple(ALERTS.columns)
"""Columns of :func:`evaluate_alerts`' result; ``drivers`` is JSON ``[[group, p], ...]`` or None."""

OPEN_ALERT_COLUMNS = ("alert_id", "rule", "region_id", "iso3", "target", "horizon", "level", "first_week")
"""Columns :func:`evaluate_alerts` needs from each open alert (the store's ``open_alerts()`` has them)."""

RULES = ("level", "escalation", "mass")
"""The rules, in the order messages are listed."""

_SCORE_COLUMNS = ("region_id", "iso3", "week", "horizon", "target", "p")
_KEY = ["region_id", "target", "horizon"]


@dataclass(frozen=True)
class RuleSpec:
    """One rule: its name, the target it watches, and whether its signal is p or p minus the recent rate."""

    name: str
    target: str
    excess: bool = False


@dataclass(frozen=True)
class AlertRules:
    """Alert configuration: the levels per horizon, which rules are on, and the horizons watched."""

    levels: AlertLevels = DEFAULT_LEVELS
    """Level and escalation rules per horizon (a bundle's ``alert_levels``, or the defaults)."""
    level: bool = True
    """Run the ``level`` rule."""
    escalation: bool = True
    """Run the ``escalation`` rule (it needs the recent climatology of each region, ``baseline``)."""
    mass: LevelRule | None = MASS_RULE
    """The ``mass`` rule on civ_mass probability; None switches it off."""
    horizons: tuple[int, ...] = (1, 4)
    """Horizons (weeks) the rules watch."""
    any_target: str = HEADLINE_TARGET
    mass_target: str = "civ_mass"

    def __post_init__(self) -> None:
        if not self.horizons or any(int(h) != h or h < 1 for h in self.horizons):
            raise ValueError(f"AlertRules.horizons must be whole numbers of weeks >= 1; got {self.horizons}")

    def specs(self) -> tuple[RuleSpec, ...]:
        """Return the active rules."""
        on = (
            (self.level, RuleSpec("level", self.any_target)),
            (self.escalation, RuleSpec("escalation", self.any_target, excess=True)),
            (self.mass is not None, RuleSpec("mass", self.mass_target)),
        )
        return tuple(spec for active, spec in on if active)

    def rule(self, name: str, horizon: int) -> LevelRule | None:
        """Return rule ``name`` at ``horizon`` (None when it is off there)."""
        if name == "mass":
            return self.mass
        at = self.levels.at(horizon)
        return at.level if name == "level" else at.escalation

    def alert_level(self, horizon: int) -> float | None:
        """Return the probability at which the level rule opens an alert at ``horizon`` (None: it is off)."""
        return self.levels.at(horizon).level.enter if self.level else None


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
    baseline: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return this week's alert messages (:data:`MESSAGE_COLUMNS`): one per alert that opens, moves a tier or
    closes; an alert that stands unchanged gets none.

    Args:
        current_scores: this week's scores (SCORES layout: region_id, iso3, week, horizon, target, p;
            region_name and revision used when present, as ``ScoreStore.scores()`` gives them).
        previous_scores: last week's scores, for ``p_prev`` (None or empty: none).
        open_alerts: the latest message of every open alert (:data:`OPEN_ALERT_COLUMNS`).
        rules: levels, switches and horizons.
        baseline: region_id, horizon, base: the recent climatology of ``rules.any_target`` at this origin
            (``forecasting.alert_stats.escalation_baseline``); needed by the escalation rule.
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
    base = _baseline(baseline, rules) if any(s.excess for s in rules.specs()) else None
    drivers = _drivers(cur)

    parts, handled = [], np.zeros(len(opened), dtype=bool)
    for spec in rules.specs():
        cand = cur[(cur["target"] == spec.target) & cur["horizon"].isin(rules.horizons)]
        if not len(cand):
            raise ValueError(
                f"alert rule {spec.name!r} watches target {spec.target!r} at horizons "
                f"{list(rules.horizons)}, which current_scores lack "
                f"(targets: {sorted(set(cur['target']))}); "
                f"switch the rule off with AlertRules({spec.name}={'None' if spec.name == 'mass' else False})"
            )
        cand = cand[[*_KEY, "iso3", "region_name", "p"]]
        cand = cand.merge(prev, on=_KEY, how="left") if prev is not None else cand.assign(p_prev=np.nan)
        if base is not None and spec.excess:
            cand = cand.merge(base, on=["region_id", "horizon"], how="left")
        for horizon in sorted(rules.horizons):
            rule = rules.rule(spec.name, horizon)
            if rule is None:
                continue
            mine = (opened["rule"] == spec.name) & (opened["horizon"] == horizon)
            handled |= mine.to_numpy()
            at_h = cand[cand["horizon"] == horizon]
            parts.append(_evaluate_rule(spec, rule, at_h, opened[mine], week, revision))
    parts.append(_retire(opened[~handled], cur, week))
    parts = [p for p in parts if len(p)]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(MESSAGE_COLUMNS))
    out["drivers"] = [drivers.get((r, h)) for r, h in zip(out["region_id"], out["horizon"], strict=True)]
    order = {name: i for i, name in enumerate(RULES)}
    out = out.assign(_rule=[order.get(str(r), len(order)) for r in out["rule"]])
    out = out.sort_values(["_rule", "region_id", "target", "horizon"], kind="mergesort").drop(columns="_rule")
    return _typed(out.reset_index(drop=True))


def _evaluate_rule(
    spec: RuleSpec,
    rule: LevelRule,
    cand: pd.DataFrame,
    opened: pd.DataFrame,
    week: pd.Timestamp,
    revision: int,
) -> pd.DataFrame:
    """Return the messages of one rule at one horizon."""
    m = cand.merge(opened, on=_KEY, how="outer", suffixes=("", "_open"), indicator=True)
    m["iso3"] = m["iso3"].fillna(m["iso3_open"])
    m["region_name"] = m["region_name"].fillna(m["region_name_open"])
    if "base" not in m.columns:
        m["base"] = np.nan
    rows = []
    for r in m.to_dict("records"):
        is_open = r["_merge"] != "left_only"
        p = float(r["p"]) if r["_merge"] != "right_only" else np.nan
        signal = p - float(r["base"]) if spec.excess else p
        tier = rule.tier_of_level(float(r["level"])) if is_open and not spec.excess else 0
        age = weeks_open(week, r["first_week"]) if is_open else 0
        step = transition(rule, signal, p, tier if is_open else None, age)
        if not step.msg:
            continue
        first = week if step.msg == "Alert" else r["first_week"]
        level = _level(spec, rule, step.tier, float(r["base"])) if step.active else float(r["level"])
        reason = _reason(spec, rule, step.msg, p, float(r["base"]), level, age, step.tier > tier)
        rows.append(
            {
                **{c: r[c] for c in ("region_id", "iso3", "region_name", "target", "horizon", "p_prev")},
                "alert_id": (
                    alert_id(r["region_id"], spec.name, r["target"], r["horizon"], week, revision)
                    if step.msg == "Alert"
                    else r["alert_id"]
                ),
                "msg_type": step.msg,
                "rule": spec.name,
                "week": week,
                "first_week": first,
                "p": p,
                "level": level,
                "reason": reason,
            }
        )
    return pd.DataFrame(rows, columns=[c for c in MESSAGE_COLUMNS if c != "drivers"])


def _level(spec: RuleSpec, rule: LevelRule, tier: int, base: float) -> float:
    """Return the probability an alert stands at: its tier's cut, or (escalation) recent rate + enter."""
    return min(base + rule.enter, 1.0) if spec.excess else rule.level(tier)


def _reason(
    spec: RuleSpec, rule: LevelRule, msg: str, p: float, base: float, level: float, age: int, up: bool
) -> str:
    """Return why the message was sent, in English with its numbers (CAP texts are built from the numbers)."""
    if np.isnan(p) or (spec.excess and np.isnan(base)):
        return "no score for this region, target and horizon this week (risk unknown, not low)"
    if spec.excess:
        if msg == "Alert":
            return (
                f"p {p:.2f} is {p - base:.2f} above the region's recent rate {base:.2f} "
                f"(alert at +{rule.enter:.2f})"
            )
        return (
            f"p {p:.2f} is {p - base:+.2f} from the region's recent rate {base:.2f}, under the "
            f"+{rule.exit:.2f} the alert holds at, after {age - 1} weeks"
        )
    if msg == "Alert":
        return f"p {p:.2f} reached the alert level {level:.2f}"
    if msg == "Update":
        return f"p {p:.2f} moved the alert {'up' if up else 'down'} to the level {level:.2f}"
    return f"p {p:.2f} fell below {rule.exit:.2f} after {age - 1} weeks"


def _retire(opened: pd.DataFrame, cur: pd.DataFrame, week: pd.Timestamp) -> pd.DataFrame:
    """Return Cancels of open alerts whose rule no longer watches their target and horizon."""
    if opened.empty:
        return pd.DataFrame(columns=[c for c in MESSAGE_COLUMNS if c != "drivers"])
    now = cur[_KEY + ["p"]]
    m = opened.merge(now, on=_KEY, how="left")
    return m.assign(
        msg_type="Cancel",
        week=week,
        p_prev=np.nan,
        reason=[f"the {r} rule no longer watches this target and horizon" for r in m["rule"]],
    )[[c for c in MESSAGE_COLUMNS if c != "drivers"]]


def _baseline(baseline: pd.DataFrame | None, rules: AlertRules) -> pd.DataFrame:
    if baseline is None:
        raise ValueError(
            "the escalation rule needs each region's recent rate (baseline: region_id, horizon, base from "
            "forecasting.alert_stats.escalation_baseline); pass it, or switch the rule off with "
            "AlertRules(escalation=False)"
        )
    missing = [c for c in ("region_id", "horizon", "base") if c not in baseline.columns]
    if missing:
        raise ValueError(f"baseline lacks columns {missing}; expected region_id, horizon, base")
    out = baseline[["region_id", "horizon", "base"]].copy()
    out["region_id"] = out["region_id"].astype(str)
    out["horizon"] = out["horizon"].astype("int64")
    return out.drop_duplicates(["region_id", "horizon"])


def alerts_in_force(history: pd.DataFrame, week: object) -> pd.DataFrame:
    """Return the latest message of each alert in force in ``week``: its last message up to that week (by
    ``seq``) is not a Cancel. ``history``: alert messages as the store returns them (``alert_id``, ``seq``,
    ``week``, ``msg_type``, ...)."""
    if history.empty:
        return history
    upto = history[pd.to_datetime(history["week"]) <= pd.Timestamp(week)]
    last = upto.sort_values(["alert_id", "seq"], kind="mergesort").drop_duplicates("alert_id", keep="last")
    return last[last["msg_type"].astype(str) != "Cancel"].reset_index(drop=True)


def with_standing(messages: pd.DataFrame, in_force_before: pd.DataFrame) -> pd.DataFrame:
    """Return this week's messages plus the alerts that stand without one (``msg_type`` <NA>): every alert
    in force this week, for the report."""
    standing = in_force_before[~in_force_before["alert_id"].isin(set(messages["alert_id"]))]
    if standing.empty:
        return messages
    standing = standing.assign(msg_type=pd.array([pd.NA] * len(standing), dtype="string"))
    return pd.concat([messages, standing[[c for c in messages.columns if c in standing.columns]]])


def _scores(df: pd.DataFrame, name: str) -> pd.DataFrame:
    missing = [c for c in _SCORE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lack columns {missing}; expected the SCORES layout {list(_SCORE_COLUMNS)}")
    out = df[list(_SCORE_COLUMNS)].copy()
    out["region_id"] = out["region_id"].astype(str)
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
    out = open_alerts[list(OPEN_ALERT_COLUMNS)].copy().reset_index(drop=True)
    out["region_id"] = out["region_id"].astype(str)
    out["region_name"] = (
        open_alerts["region_name"].to_numpy() if "region_name" in open_alerts.columns else pd.NA
    )
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
