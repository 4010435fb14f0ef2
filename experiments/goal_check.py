"""The goal checks of docs/RESULTS.md: do the champion's backtest scores meet the project's targets?

Targets (issue 10, "Warnings that stay honest when violence escalates"), checked for the model the champion
rule picks (best Brier skill against the strongest baseline):

- Sahel admin-1, 2017-2020 (``results_sahel_admin1``): calibration kept (ECE <= 0.02 at h = 1 and 4);
  early warning of new harm (onset rows at h = 4: ROC-AUC >= 0.80 and Brier skill against the best baseline
  >= 0.10); count intervals that mean what they say (80% intervals cover 0.80 +- 0.03) and CRPS at h = 4
  below conflictology.
- The Mali forward test (``results_mali_forward``, a model frozen at 2021-06 and tested on the following
  year): ECE <= 0.03 at h = 1 and 4, and every quarter's mean forecast within 0.05 of what happened.

Pure functions of a backtest's metrics table and its forecast summary (``results_tables.forecast_summary``):
each criterion carries its value, whether it is met, and an explanation assembled from the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from forecasting.backtest import overall_scores, select_models
from forecasting.plan import BASELINES
from forecasting.targets import HEADLINE_TARGET

PRIMARY = "brier_skill_best"


@dataclass(frozen=True)
class Criterion:
    """One line of a goal check."""

    name: str
    wanted: str
    value: float
    passed: bool
    explanation: str


@dataclass(frozen=True)
class GoalReport:
    """A goal check's outcome: the model checked (per horizon) and one line per criterion."""

    models: dict[int, str]
    criteria: tuple[Criterion, ...]

    @property
    def passed(self) -> bool:
        """Return True when every criterion is met."""
        return all(c.passed for c in self.criteria)


Check = Callable[["_Evidence"], Criterion]


@dataclass(frozen=True)
class Goal:
    """A named set of criteria checked on one config's backtest."""

    name: str
    config: str
    test_label: str
    checks: tuple[tuple[str, ...], ...]
    """Each check: (kind, target, horizon, ...arguments), interpreted by :data:`CHECKS`."""


class _Evidence:
    """A backtest's overall and per-period scores and label counts, looked up by model and slice."""

    def __init__(self, metrics: pd.DataFrame, summary: pd.DataFrame | None) -> None:
        self.m = metrics
        self.s = summary
        self.best = select_models(metrics, PRIMARY, "all")

    def model(self, target: str, horizon: int) -> str:
        return self.best[(target, horizon)]

    def row(
        self, model: str, target: str, horizon: int, metric: str, subset: str = "all"
    ) -> pd.Series | None:
        sel = overall_scores(self.m, target, horizon, subset, model=model, metric=metric)
        return sel.iloc[0] if len(sel) else None

    def best_learned(self, target: str, horizon: int, metric: str) -> str | None:
        """Return the non-baseline model with the lowest overall ``metric`` (None if there is none)."""
        sel = overall_scores(self.m, target, horizon, metric=metric)
        sel = sel[~sel["model"].isin(BASELINES) & sel["value"].notna()]
        return None if sel.empty else str(sel.loc[sel["value"].idxmin(), "model"])

    def score(self, model: str, target: str, horizon: int, metric: str, subset: str = "all") -> float:
        row = self.row(model, target, horizon, metric, subset)
        return math.nan if row is None else float(row["value"])

    def quarters(self, model: str, target: str, horizon: int) -> pd.DataFrame:
        """Return quarter, n, mean_y, mean_p of the model's rows (empty without a summary by quarter)."""
        s = self.s
        if s is None or "quarter" not in s.columns:
            return pd.DataFrame(columns=["quarter", "n", "mean_y", "mean_p"])
        sel = s[
            (s["model"] == model)
            & (s["target"] == target)
            & (s["horizon"] == horizon)
            & (s["subset"] == "all")
            & s["quarter"].notna()
        ]
        return sel[["quarter", "n", "mean_y", "mean_p"]].sort_values("quarter").reset_index(drop=True)


def _num(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _interval(row: pd.Series | None) -> str:
    if row is None or math.isnan(float(row.get("lo", math.nan))):
        return ""
    return f" (90% interval {_num(float(row['lo']))} to {_num(float(row['hi']))})"


def _ece(ev: _Evidence, target: str, horizon: int, limit: float) -> Criterion:
    model = ev.model(target, horizon)
    value = ev.score(model, target, horizon, "ece")
    n = ev.row(model, target, horizon, "ece")
    rows = int(n["n"]) if n is not None else 0
    text = f"{model}: ECE {_num(value)} on {rows:,} region-windows, at most {limit:.2f} asked."
    if rows and rows < 2000:
        text += (
            " On so few rows sampling noise alone gives an ECE of a few hundredths (10 bins), so read it "
            "beside the quarterly bias."
        )
    return Criterion(f"ECE, {target} h={horizon}", f"<= {limit:.2f}", value, value <= limit, text)


def _onset(ev: _Evidence, target: str, horizon: int, min_auc: float, min_skill: float) -> list[Criterion]:
    model = ev.model(target, horizon)
    auc = ev.row(model, target, horizon, "roc_auc", "onset")
    skill = ev.row(model, target, horizon, PRIMARY, "onset")
    out = []
    for name, row, limit in (("ROC-AUC", auc, min_auc), ("Brier skill vs best baseline", skill, min_skill)):
        value = math.nan if row is None else float(row["value"])
        ref = "" if row is None or pd.isna(row.get("reference")) else f" (best baseline: {row['reference']})"
        rows = 0 if row is None else int(row["n"])
        text = (
            f"{model} on {rows:,} onset rows: {_num(value)}{_interval(row)}{ref}; at least {limit:.2f} asked."
        )
        out.append(
            Criterion(f"Onset {name}, {target} h={horizon}", f">= {limit:.2f}", value, value >= limit, text)
        )
    return out


def _coverage(ev: _Evidence, target: str, horizon: int, centre: float, tol: float) -> Criterion:
    model = ev.model(target, horizon)
    value = ev.score(model, target, horizon, "pit_coverage80")
    central = ev.score(model, target, horizon, "coverage80")
    text = (
        f"{model}: {_num(value)} of randomised PITs inside [0.1, 0.9] (its 80% interval read as a "
        f"distribution), {centre:.2f} +- {tol:.2f} asked; {_num(central)} of outcomes inside q10..q90. "
        "Integer counts with many zeros make that central interval cover more than 80% even when "
        "calibrated, so the PIT share is what is judged."
    )
    passed = abs(value - centre) <= tol
    return Criterion(
        f"80% interval coverage (PIT), {target} h={horizon}",
        f"{centre:.2f} +- {tol:.2f}",
        value,
        passed,
        text,
    )


def _crps(ev: _Evidence, target: str, horizon: int, reference: str) -> Criterion:
    model = ev.model(target, horizon)
    note = ""
    if model in BASELINES:  # a baseline cannot beat the baseline: judge the best learned count model
        learned = ev.best_learned(target, horizon, "crps")
        if learned is not None:
            note = f" The best count model overall is the baseline {model}; the best learned one is judged."
            model = learned
    value, ref = ev.score(model, target, horizon, "crps"), ev.score(reference, target, horizon, "crps")
    text = f"{model}: CRPS {_num(value)} against {reference}'s {_num(ref)} on the same window.{note}"
    return Criterion(
        f"CRPS below {reference}, {target} h={horizon}", f"< {_num(ref)}", value, value < ref, text
    )


def _quarters(ev: _Evidence, target: str, horizon: int, limit: float) -> Criterion:
    model = ev.model(target, horizon)
    q = ev.quarters(model, target, horizon)
    if q.empty:
        text = "No forecast summary by quarter was recorded for this backtest."
        return Criterion(
            f"Quarterly bias, {target} h={horizon}", f"|bias| <= {limit:.2f}", math.nan, False, text
        )
    bias = q["mean_p"] - q["mean_y"]
    worst = float(bias.abs().max())
    shown = "; ".join(f"{r.quarter} {r.mean_p:.2f} vs {r.mean_y:.2f}" for r in q.itertuples(index=False))
    text = f"{model}, mean forecast vs observed by quarter: {shown}. Worst gap {_num(worst)}."
    return Criterion(
        f"Quarterly bias, {target} h={horizon}", f"|bias| <= {limit:.2f}", worst, worst <= limit, text
    )


CHECKS: dict[str, Callable[..., Criterion | list[Criterion]]] = {
    "ece": lambda ev, t, h, limit: _ece(ev, t, int(h), float(limit)),
    "onset": lambda ev, t, h, auc, skill: _onset(ev, t, int(h), float(auc), float(skill)),
    "coverage": lambda ev, t, h, centre, tol: _coverage(ev, t, int(h), float(centre), float(tol)),
    "crps_below": lambda ev, t, h, ref: _crps(ev, t, int(h), ref),
    "quarters": lambda ev, t, h, limit: _quarters(ev, t, int(h), float(limit)),
}

GOALS = (
    Goal(
        "Sahel admin-1 backtest",
        "results_sahel_admin1",
        "2017-2020",
        (
            ("ece", HEADLINE_TARGET, "1", "0.02"),
            ("ece", HEADLINE_TARGET, "4", "0.02"),
            ("onset", HEADLINE_TARGET, "4", "0.80", "0.10"),
            ("coverage", "civ_deaths", "4", "0.80", "0.03"),
            ("crps_below", "civ_deaths", "4", "conflictology"),
        ),
    ),
    Goal(
        "Mali forward test",
        "results_mali_forward",
        "2021-07-05..2022-06-27",
        (
            ("ece", HEADLINE_TARGET, "1", "0.03"),
            ("ece", HEADLINE_TARGET, "4", "0.03"),
            ("quarters", HEADLINE_TARGET, "1", "0.05"),
            ("quarters", HEADLINE_TARGET, "4", "0.05"),
        ),
    ),
)
"""The goal checks RESULTS.md renders (issue 10's targets)."""


def check_goal(
    metrics: pd.DataFrame, summary: pd.DataFrame | None, goal: Goal, test_label: str
) -> GoalReport:
    """Return the goal check of one backtest (its metrics table and forecast summary) against ``goal``."""
    ev = _Evidence(metrics, summary)
    criteria: list[Criterion] = []
    models: dict[int, str] = {}
    for kind, target, horizon, *args in goal.checks:
        if (target, int(horizon)) not in ev.best:
            criteria.append(
                Criterion(
                    f"{kind}, {target} h={horizon}",
                    "scores",
                    math.nan,
                    False,
                    f"the backtest has no {target} scores at horizon {horizon}; add them to {goal.config}",
                )
            )
            continue
        if target == HEADLINE_TARGET:
            models[int(horizon)] = ev.model(target, int(horizon))
        got = CHECKS[kind](ev, target, horizon, *args)
        criteria.extend(got if isinstance(got, list) else [got])
    if test_label != goal.test_label:
        criteria.append(
            Criterion(
                "test period",
                goal.test_label,
                math.nan,
                False,
                f"the backtest tested {test_label}, the goal is stated for {goal.test_label}; set the test "
                f"period in {goal.config}.toml",
            )
        )
    return GoalReport(models, tuple(criteria))
