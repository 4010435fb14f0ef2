"""Alert levels people keep reading: the rules, their week-to-week transition, and their simulation.

A rule watches one signal per region: the probability ``p`` (the ``level`` and ``mass`` rules) or ``p``
minus the region's own recent rate (the ``escalation`` rule, docs/PUBLISHING.md "Alerts"). Per region,
week after week (:func:`transition`):

- closed -> open ("Alert") when the signal reaches ``enter``;
- an open alert holds while the signal stays >= ``exit`` (``exit`` < ``enter``: hysteresis) and, whatever
  the signal, for its first ``min_weeks`` weeks (so regions do not flap);
- an open alert stands at a *tier*: 0 at ``enter``, k once ``p`` reaches ``tiers[k-1]``. It drops back a
  tier only when ``p`` falls ``enter - exit`` below that tier's cut (the same hysteresis). An "Update" is
  sent only when the tier changes; a week without a change sends nothing (the alert stands);
- open -> closed ("Cancel") when the signal falls below ``exit`` after ``min_weeks``, or when the region has
  no signal that week (risk unknown, not low).

Everything an open alert carries from week to week (its tier and the week it opened) is in its last message,
so ``publish.alerting.rules`` recovers it from the store's alert history. This module sits below publish/
so that a backtest can simulate the same rules (:func:`simulate`, ``forecasting.alert_stats``) and a
:class:`~forecasting.bundle.ForecastBundle` can carry the levels chosen on its backtest
(``forecasting.alert_choice``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

MESSAGES = ("Alert", "Update", "Cancel")
WEEK = pd.Timedelta(weeks=1)


@dataclass(frozen=True)
class LevelRule:
    """One alert rule at one horizon: open at ``enter``, hold while >= ``exit`` and for ``min_weeks``."""

    enter: float
    """Signal at or above which an alert opens."""
    exit: float
    """An open alert holds while the signal is at or above this (after its first ``min_weeks`` weeks)."""
    min_weeks: int = 1
    """Weeks an alert stays open at least, counting the week it opened."""
    tiers: tuple[float, ...] = ()
    """Probabilities above ``enter`` that raise an open alert a tier (each change sends an Update)."""

    def __post_init__(self) -> None:
        if not -1 < self.enter <= 1:
            raise ValueError(f"LevelRule.enter must be in (-1, 1]; got {self.enter}")
        if not -1 < self.exit <= self.enter:
            raise ValueError(f"LevelRule.exit must be in (-1, enter={self.enter}]; got {self.exit}")
        if int(self.min_weeks) != self.min_weeks or self.min_weeks < 1:
            raise ValueError(
                f"LevelRule.min_weeks must be a whole number of weeks >= 1; got {self.min_weeks}"
            )
        cuts = (self.enter, *self.tiers)
        if any(b <= a for a, b in zip(cuts, cuts[1:], strict=False)) or any(t > 1 for t in self.tiers):
            raise ValueError(
                f"LevelRule.tiers must rise strictly above enter={self.enter} and stay <= 1; got {self.tiers}"
            )

    @property
    def gap(self) -> float:
        """Return the hysteresis margin ``enter - exit`` (also how far p falls before a tier drops)."""
        return self.enter - self.exit

    def level(self, tier: int) -> float:
        """Return the probability cut of ``tier`` (0: ``enter``)."""
        return (self.enter, *self.tiers)[tier]

    def tier_of_level(self, level: float) -> int:
        """Return the tier whose cut ``level`` is (a message's ``level``), the nearest lower one otherwise."""
        return bisect_right(self.tiers, level + 1e-9)

    def tier(self, p: float, current: int | None = None) -> int:
        """Return the tier of probability ``p`` for an alert now at tier ``current`` (None: opening)."""
        up = bisect_right(self.tiers, p)
        if current is None or up >= current:
            return up
        # below the current tier's cut: drop only as far as p is a full margin below the cuts
        return max(up, min(current, bisect_right(self.tiers, p + self.gap)))

    def label(self) -> str:
        """Return the rule in a few characters for tables and logs ("0.40->0.30, 4 wk, tiers 0.65")."""
        tiers = f", tiers {'/'.join(f'{t:.2f}' for t in self.tiers)}" if self.tiers else ""
        return f"{self.enter:.2f}->{self.exit:.2f}, {self.min_weeks} wk{tiers}"


@dataclass(frozen=True, slots=True)
class Transition:
    """What one week does to one region's alert: its message ("" = none), whether it is open, its tier."""

    msg: str
    active: bool
    tier: int


def transition(
    rule: LevelRule, signal: float, p: float, open_tier: int | None, weeks_open: int = 0
) -> Transition:
    """Return this week's transition (module docstring) of one region under ``rule``.

    Args:
        signal: the rule's signal this week (NaN: the region has no score, which closes an open alert).
        p: the probability the tiers read (the signal itself for the level rule).
        open_tier: the open alert's tier, None when no alert is open.
        weeks_open: weeks since the alert opened, counting this one (the opening week is week 1).
    """
    missing = signal != signal  # NaN: no score this week
    if open_tier is None:
        if not missing and signal >= rule.enter:
            return Transition("Alert", True, rule.tier(p))
        return Transition("", False, 0)
    if missing:
        return Transition("Cancel", False, open_tier)
    if signal >= rule.exit or weeks_open <= rule.min_weeks:
        tier = rule.tier(p, open_tier)
        return Transition("Update" if tier != open_tier else "", True, tier)
    return Transition("Cancel", False, open_tier)


def weeks_open(week: pd.Timestamp, first_week: pd.Timestamp) -> int:
    """Return the weeks an alert opened in ``first_week`` has been open in ``week`` (1 in its first week)."""
    return int((pd.Timestamp(week) - pd.Timestamp(first_week)) // WEEK) + 1


def simulate(frame: pd.DataFrame, rule: LevelRule) -> pd.DataFrame:
    """Return ``frame`` (region_id, week, signal, p, ...) with the rule run week by week per region.

    Added columns: ``active`` (an alert is open after this week), ``msg`` (Alert/Update/Cancel or ""),
    ``tier`` and ``open_week`` (the week the open alert opened; NaT when none). A region without a row in a
    week (a gap in its weekly origins) has its alert closed, as a publication without its score does; such
    closures are counted in ``attrs["gap_cancels"]``.
    """
    s = frame.sort_values(["region_id", "week"], kind="mergesort").reset_index(drop=True)
    days = pd.to_datetime(s["week"]).to_numpy().astype("datetime64[D]").astype("int64")
    signal = s["signal"].to_numpy(dtype="float64")
    p = s["p"].to_numpy(dtype="float64")
    active = np.zeros(len(s), dtype=bool)
    msg = np.full(len(s), "", dtype=object)
    tier = np.zeros(len(s), dtype="int64")
    opened = np.full(len(s), -1, dtype="int64")
    gap_cancels = 0
    for idx in s.groupby("region_id", sort=False).indices.values():
        open_tier: int | None = None
        first = last = -1
        for i in idx:
            if open_tier is not None and days[i] - last != 7:
                open_tier = None  # a week without a score closed it
                gap_cancels += 1
            last = days[i]
            age = (days[i] - first) // 7 + 1 if open_tier is not None else 0
            step = transition(rule, signal[i], p[i], open_tier, age)
            msg[i] = step.msg
            if step.msg == "Alert":
                first = days[i]
            open_tier = step.tier if step.active else None
            if step.active:
                active[i], tier[i], opened[i] = True, step.tier, first
    open_week = pd.to_datetime(np.where(opened >= 0, opened, np.iinfo("int64").min).astype("datetime64[D]"))
    out = s.assign(active=active, msg=msg, tier=tier, open_week=open_week.astype("datetime64[ns]"))
    out.attrs["gap_cancels"] = gap_cancels
    return out


@dataclass(frozen=True)
class HorizonLevels:
    """The rules of one horizon: the level rule on p and the escalation rule on p minus the recent rate."""

    horizon: int
    level: LevelRule
    escalation: LevelRule | None = None


@dataclass(frozen=True)
class AlertLevels:
    """Alert rules per horizon and where they came from (a backtest, or the documented defaults)."""

    horizons: tuple[HorizonLevels, ...]
    chosen_on: str = "defaults"
    """How the levels were chosen, in words (the backtest, target precision and what it reached)."""

    def at(self, horizon: int) -> HorizonLevels:
        """Return the rules of ``horizon``: the chosen ones, else the defaults for that horizon."""
        for h in self.horizons:
            if h.horizon == int(horizon):
                return h
        return default_horizon_levels(int(horizon))

    def describe(self) -> list[str]:
        """Return one line per horizon ("h4: level 0.40->0.30, 4 wk, tiers 0.65; escalation ...")."""
        lines = []
        for h in sorted(self.horizons, key=lambda x: x.horizon):
            esc = f"; escalation +{h.escalation.label()}" if h.escalation is not None else ""
            lines.append(f"h{h.horizon}: level {h.level.label()}{esc}")
        return lines


def min_weeks_for(horizon: int, min_weeks: int = 4) -> int:
    """Return the minimum duration at ``horizon``: its forecast window, at least 2 and at most ``min_weeks``.

    An alert about next week should not stand for a month after the risk fell; one about the next 4 weeks
    should not close before its window has passed.
    """
    return int(min(min_weeks, max(2, horizon)))


def default_horizon_levels(horizon: int) -> HorizonLevels:
    """Return the documented default rules of ``horizon`` (used when a bundle carries no chosen levels).

    They are the levels chosen on the Sahel yearly-frozen backtest 2016-07 .. 2019-06 for precision 0.70
    (research for issue 10): h = 1 opens at 0.65 (tier 0.90), longer horizons at 0.40 (tier 0.65), exit
    0.10 lower; escalation at +0.15 (h = 1) / +0.20 above the region's recent rate, exit 0.05 lower.
    """
    mw = min_weeks_for(horizon)
    if horizon <= 1:
        return HorizonLevels(horizon, LevelRule(0.65, 0.55, mw, (0.90,)), LevelRule(0.15, 0.10, mw))
    return HorizonLevels(horizon, LevelRule(0.40, 0.30, mw, (0.65,)), LevelRule(0.20, 0.15, mw))


DEFAULT_LEVELS = AlertLevels(tuple(default_horizon_levels(h) for h in (1, 4)))
"""Levels of a model trained before levels were chosen on backtests (docs/PUBLISHING.md "Alerts")."""

MASS_RULE = LevelRule(0.25, 0.15, 1)
"""The mass rule: civ_mass probability 0.25 opens an alert, which holds while >= 0.15."""


def horizons_of(levels: Iterable[HorizonLevels]) -> tuple[int, ...]:
    """Return the horizons that have rules, ascending."""
    return tuple(sorted({h.horizon for h in levels}))
