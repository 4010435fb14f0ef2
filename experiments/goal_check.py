"""The goal check of docs/RESULTS.md: does the Sahel admin-1 champion meet the project's targets?

Targets (issue "Forecasting civilian harm"): on ACLED Sahel admin-1 events, ``civ_any`` at horizon 4, test
years 2017-2020, the model the champion rule picks (best overall Brier skill against climatology) must reach
Brier skill vs climatology >= 0.30, average precision >= 0.70, ECE <= 0.03, and beat persistence on the
onset subset (Brier skill vs persistence > 0 on onset rows).

Pure functions of the backtest's metrics table and its forecast summary (``results_tables.forecast_summary``):
each criterion carries its value, whether it is met, and a plain-language explanation assembled from the
numbers (base rates, onset counts, per-year scores), never a conclusion typed in advance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from forecasting.backtest import select_models
from forecasting.targets import HEADLINE_TARGET


@dataclass(frozen=True)
class Goal:
    """Where the goal is checked and the thresholds it asks for."""

    config: str = "results_sahel_admin1"
    target: str = HEADLINE_TARGET
    horizon: int = 4
    test_years: tuple[int, int] = (2017, 2020)
    min_bss_climatology: float = 0.30
    min_average_precision: float = 0.70
    max_ece: float = 0.03


@dataclass(frozen=True)
class Criterion:
    """One line of the goal check."""

    name: str
    wanted: str
    value: float
    passed: bool
    explanation: str


@dataclass(frozen=True)
class GoalReport:
    """The goal check's outcome: the model checked and one criterion per target."""

    model: str
    criteria: tuple[Criterion, ...]
    context: str = ""
    """How strong the reference is: climatology's own calibration and the other baselines against it."""

    @property
    def passed(self) -> bool:
        """Return True when every criterion is met."""
        return all(c.passed for c in self.criteria)


class _Slice:
    """Overall (or per-year) scores and label counts of one target x horizon, looked up by model."""

    def __init__(self, metrics: pd.DataFrame, summary: pd.DataFrame | None, target: str, horizon: int):
        self.m = metrics[(metrics["target"] == target) & (metrics["horizon"] == horizon)]
        s = summary if summary is not None else _empty_summary()
        self.s = s[(s["target"] == target) & (s["horizon"] == horizon)]

    def score(self, model: str, metric: str, subset: str = "all", year: int | None = None) -> float:
        m = self.m
        sel = m[(m["model"] == model) & (m["metric"] == metric) & (m["subset"] == subset)]
        sel = sel[sel["year"].isna()] if year is None else sel[sel["year"] == year]
        return float(sel["value"].iloc[0]) if len(sel) else math.nan

    def n(self, model: str, metric: str, subset: str = "all") -> int:
        m = self.m
        sel = m[(m["model"] == model) & (m["metric"] == metric) & (m["subset"] == subset) & m["year"].isna()]
        return int(sel["n"].iloc[0]) if len(sel) else 0

    def years(self) -> list[int]:
        return sorted(int(y) for y in self.m["year"].dropna().unique())

    def labels(self, model: str, subset: str = "all", year: int | None = None) -> dict[str, float]:
        """Return n, positives, mean_y, mean_p of a model's scored rows (NaN when not recorded)."""
        s = self.s
        sel = s[(s["model"] == model) & (s["subset"] == subset)]
        sel = sel[sel["year"].isna()] if year is None else sel[sel["year"] == year]
        if sel.empty:
            return {"n": math.nan, "positives": math.nan, "mean_y": math.nan, "mean_p": math.nan}
        row = sel.iloc[0]
        return {k: float(row[k]) for k in ("n", "positives", "mean_y", "mean_p")}


def _empty_summary() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["model", "target", "horizon", "year", "subset", "n", "positives", "mean_y", "mean_p"]
    )


def _pct(x: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.{digits}f}%"


def _num(x: float, digits: int = 2) -> str:
    return "n/a" if math.isnan(x) else f"{x:.{digits}f}"


def _count(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{int(x):,}"


def _yearly(sl: _Slice, model: str, metric: str) -> str:
    values = [(y, sl.score(model, metric, year=y)) for y in sl.years()]
    return ", ".join(f"{_num(v)} in {y}" for y, v in values)


def check_goal(
    metrics: pd.DataFrame,
    summary: pd.DataFrame | None,
    goal: Goal,
    test_label: str,
    retrain_every: int,
) -> GoalReport:
    """Return the goal check of one backtest (its metrics table and forecast summary) against ``goal``."""
    chosen = select_models(metrics[metrics["target"] == goal.target], "brier_skill_climatology", "all")
    if (goal.target, goal.horizon) not in chosen:
        raise ValueError(
            f"the backtest has no {goal.target} scores at horizon {goal.horizon}; the goal check needs them "
            f"(add the target and horizon to config {goal.config})"
        )
    model = chosen[(goal.target, goal.horizon)]
    sl = _Slice(metrics, summary, goal.target, goal.horizon)
    checks: list[Callable[[_Slice, str, Goal, int], Criterion]] = [_skill, _precision, _calibration, _onset]
    criteria = [check(sl, model, goal, retrain_every) for check in checks]
    wanted = f"{goal.test_years[0]}-{goal.test_years[1]}"
    if test_label != wanted:
        years = test_label
        criteria.append(
            Criterion(
                "test years",
                wanted,
                math.nan,
                False,
                f"the backtest tested {years}, the goal is stated for {wanted}; "
                f"set backtest.test_years in {goal.config}.toml",
            )
        )
    return GoalReport(model, tuple(criteria), _context(sl, goal))


def _context(sl: _Slice, goal: Goal) -> str:
    """Return a note on the reference: skill against a stale or miscalibrated climatology comes cheaper."""
    lab = sl.labels("climatology")
    parts = []
    if not math.isnan(lab["mean_p"]):
        parts.append(
            "climatology (each region's base rate over all training weeks) forecast "
            f"{_pct(lab['mean_p'])} on average against {_pct(lab['mean_y'])} observed"
        )
    ece = sl.score("climatology", "ece")
    if not math.isnan(ece):
        parts.append(f"its ECE is {_num(ece, 3)}")
    text = "Reference: " + ", ".join(parts) + "." if parts else ""
    present = {str(m) for m in sl.m["model"].unique()} & {"persistence", "conflictology", "zero"}
    scored = [(m, sl.score(m, "brier_skill_climatology")) for m in sorted(present)]
    scored = sorted(((m, v) for m, v in scored if not math.isnan(v)), key=lambda mv: -mv[1])
    if scored:
        text += " Other baselines against climatology: " + ", ".join(f"{m} {_num(v)}" for m, v in scored)
        best_m, best_v = scored[0]
        if best_v >= goal.min_bss_climatology:
            text += (
                f"; {best_m}, a baseline, already clears the {_num(goal.min_bss_climatology)} threshold, "
                "so that criterion says more about climatology than about the model"
            )
        text += "."
    return text.strip()


def _skill(sl: _Slice, model: str, goal: Goal, retrain_every: int) -> Criterion:
    value = sl.score(model, "brier_skill_climatology")
    passed = value >= goal.min_bss_climatology
    bs, bs_clim = sl.score(model, "brier"), sl.score("climatology", "brier")
    lab = sl.labels(model)
    text = (
        f"Brier {_num(bs, 4)} against climatology's {_num(bs_clim, 4)}: "
        f"{_pct(value, 0)} of climatology's error removed, {_pct(goal.min_bss_climatology, 0)} asked."
    )
    if not passed:
        text += (
            f" Civilians were killed in {_pct(lab['mean_y'])} of the {_count(lab['n'])} region-windows of "
            f"{goal.horizon} weeks."
        )
        auc_clim = sl.score("climatology", "roc_auc")
        if auc_clim >= 0.75:
            text += (
                f" Each region's base rate alone ranks them well (climatology's ROC-AUC "
                f"{_num(auc_clim)}), so the skill left to win is in timing within a region, which the "
                "weekly features predict only in part."
            )
        pers = sl.score("persistence", "brier_skill_climatology")
        text += f" Persistence scores {_num(pers)} against climatology."
        text += f" Per test year the skill was {_yearly(sl, model, 'brier_skill_climatology')}."
    return Criterion("Brier skill vs climatology", f">= {goal.min_bss_climatology:.2f}", value, passed, text)


def _precision(sl: _Slice, model: str, goal: Goal, retrain_every: int) -> Criterion:
    value = sl.score(model, "average_precision")
    passed = value >= goal.min_average_precision
    lab = sl.labels(model)
    text = f"AP {_num(value)}, {_num(goal.min_average_precision)} asked."
    if not passed:
        rate = lab["mean_y"]
        if not math.isnan(rate) and rate > 0:
            text += (
                f" A forecast without skill scores the base rate, {_num(rate)}; {model} scores "
                f"{value / rate:.1f} times that (ROC-AUC {_num(sl.score(model, 'roc_auc'))})."
            )
        onset = sl.labels(model, "onset")
        if lab["positives"] > 0 and not math.isnan(onset["positives"]):
            text += (
                f" {_count(onset['positives'])} of the {_count(lab['positives'])} windows with civilians "
                f"killed ({_pct(onset['positives'] / lab['positives'], 0)}) came in regions without civilian "
                "deaths in the 26 weeks before: those rank low, whatever the model."
            )
        prec, rec = sl.score(model, "precision_top10pct"), sl.score(model, "recall_top10pct")
        text += (
            f" Alerting on the top 10% of regions each week, {_pct(prec, 0)} of alerts were right and they "
            f"caught {_pct(rec, 0)} of the harm."
        )
    return Criterion("Average precision", f">= {goal.min_average_precision:.2f}", value, passed, text)


def _calibration(sl: _Slice, model: str, goal: Goal, retrain_every: int) -> Criterion:
    value = sl.score(model, "ece")
    passed = value <= goal.max_ece
    lab = sl.labels(model)
    text = f"ECE {_num(value, 3)}, at most {_num(goal.max_ece, 3)} asked."
    if not passed:
        gap = lab["mean_p"] - lab["mean_y"]
        if not math.isnan(gap):
            side = "above" if gap > 0 else "below"
            text += (
                f" Over all test years {model} forecast {_pct(lab['mean_p'])} on average against "
                f"{_pct(lab['mean_y'])} observed, {abs(100 * gap):.1f} points {side}."
            )
        years = sl.years()
        per_year = [(y, sl.labels(model, year=y)) for y in years]
        shown = [(y, d) for y, d in per_year if not math.isnan(d["mean_y"])]
        if shown:
            text += (
                " Observed vs forecast by year: "
                + "; ".join(f"{y} {_pct(d['mean_y'])} vs {_pct(d['mean_p'])}" for y, d in shown)
                + "."
            )
            rates = [d["mean_y"] for _, d in shown]
            if max(rates) - min(rates) >= 0.05:
                text += (
                    f" The rate moved by {100 * (max(rates) - min(rates)):.0f} points between years; a model "
                    f"refitted every {retrain_every} weeks on the years before lags such a shift."
                )
        eces = [(y, sl.score(model, "ece", year=y)) for y in years]
        eces = [(y, e) for y, e in eces if not math.isnan(e)]
        if eces:
            worst = max(eces, key=lambda ye: ye[1])
            text += f" The worst year was {worst[0]} (ECE {_num(worst[1], 3)})."
    return Criterion("Expected calibration error", f"<= {goal.max_ece:.2f}", value, passed, text)


def _onset(sl: _Slice, model: str, goal: Goal, retrain_every: int) -> Criterion:
    value = sl.score(model, "brier_skill_persistence", "onset")
    passed = value > 0
    n = sl.n(model, "brier", "onset")
    lab = sl.labels(model, "onset")
    bs, bs_pers = sl.score(model, "brier", "onset"), sl.score("persistence", "brier", "onset")
    bss_clim = sl.score(model, "brier_skill_climatology", "onset")
    if n == 0:
        text = (
            "No onset rows (regions without civilian deaths in the 26 weeks before the origin) among the "
            "scored rows: the criterion cannot be judged."
        )
        return Criterion("Better than persistence on onset", "skill > 0", value, False, text)
    text = (
        f"On {n:,} onset rows (no civilian deaths in the 26 weeks known at the origin), civilians were "
        f"then killed in {_count(lab['positives'])} windows ({_pct(lab['mean_y'])}). Persistence forecasts "
        "0 there: "
        f"Brier {_num(bs_pers, 4)}; {model} scores {_num(bs, 4)} (skill {_num(value)} vs persistence, "
        f"{_num(bss_clim)} vs climatology)."
    )
    if math.isnan(value):
        text += " With no onset harm at all, persistence is perfect there and skill against it is undefined."
        return Criterion("Better than persistence on onset", "skill > 0", value, False, text)
    if not passed:
        if lab["mean_p"] > lab["mean_y"]:
            text += (
                f" Its mean forecast there is {_pct(lab['mean_p'])}, above the observed "
                f"{_pct(lab['mean_y'])}: the probability spread over the many quiet regions costs more than "
                "the few onsets it ranks high earn."
            )
        else:
            text += (
                f" Its mean forecast there is {_pct(lab['mean_p'])} against {_pct(lab['mean_y'])} observed, "
                "and it does not rank the onsets above the quiet regions well enough "
                f"(ROC-AUC {_num(sl.score(model, 'roc_auc', 'onset'))})."
            )
    return Criterion("Better than persistence on onset", "skill > 0", value, passed, text)
