"""docs/RESULTS.md as a pure function of backtest tables: metrics + forecast summary + run facts -> markdown.

``render_results`` takes, per backtest, the tidy metrics table (``forecasting.backtest.score``), the forecast
summary (``forecast_summary``: per model and slice the rows scored, the positives, the observed mean and the
mean forecast) and the facts of the run (config, data fingerprint, runtime, MLflow run). Nothing here reads
files or runs models, so a test can render from a small synthetic table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from experiments.citations import citations
from experiments.config import ExperimentConfig
from experiments.goal_check import GOALS, Goal, GoalReport, check_goal
from forecasting.backtest import BASELINES, overall_scores, select_models
from forecasting.targets import TARGET_KINDS

BINARY_COLUMNS = (
    ("brier", "Brier", 4),
    ("brier_skill_best", "BSS best", 3),
    ("roc_auc", "ROC-AUC", 3),
    ("average_precision", "AP", 3),
    ("base_rate", "base rate", 3),
    ("ece", "ECE", 3),
    ("brier_skill_climatology", "BSS clim", 3),
    ("precision_top10pct", "P@10%", 3),
    ("recall_top10pct", "R@10%", 3),
)
COUNT_COLUMNS = (
    ("crps", "CRPS", 3),
    ("crps_samples", "CRPS ens.", 3),
    ("brier_nonzero", "Brier y>0", 3),
    ("ignorance", "Ignorance", 3),
    ("msle", "MSLE", 3),
    ("coverage80", "80% cover", 3),
    ("pit_coverage80", "80% PIT cover", 3),
)
REFERENCE_MODELS = (*BASELINES, "zero")
"""Models shown as baselines (in italics, listed first)."""
SUMMARY_COLUMNS = (
    "model",
    "target",
    "horizon",
    "year",
    "quarter",
    "subset",
    "n",
    "positives",
    "mean_y",
    "mean_p",
)


@dataclass(frozen=True)
class BacktestRecord:
    """One backtest as RESULTS.md shows it: the scores and the facts of the run."""

    config: ExperimentConfig
    metrics: pd.DataFrame
    summary: pd.DataFrame | None
    """``forecast_summary`` of the run; None when the run did not record it (then no base rates)."""
    data_fingerprint: str
    input_files: tuple[str, ...]
    run_id: str | None
    inputs_seconds: float
    backtest_seconds: float
    n_regions: int
    n_notes: int
    description: str = ""
    commit: str = "not recorded"
    """The git commit the backtest ran at."""
    command: str = "not recorded"
    """The command that ran the backtest."""


@dataclass(frozen=True)
class Header:
    """Provenance printed at the top of RESULTS.md."""

    commit: str
    date: str
    command: str
    tracking_uri: str
    rendered_from_mlflow: bool = False


def forecast_summary(forecasts: pd.DataFrame, actuals: pd.DataFrame) -> pd.DataFrame:
    """Return per model x target x horizon x year or quarter (<NA> = all) x subset: n, positives, mean_y,
    mean_p.

    ``positives`` counts rows with ``y > 0`` (harm in the window); ``mean_y`` is the base rate of a binary
    target or the mean count; ``mean_p`` the mean forecast. ``actuals`` carries the ``onset`` flag.
    """
    keys = ["region_id", "week", "horizon", "target"]
    lab = actuals.loc[actuals["y"].notna(), [*keys, "y", "onset"]]
    d = forecasts[[*keys, "model", "p"]].merge(lab, on=keys, how="inner", validate="many_to_one")
    d = d.assign(
        year=d["week"].dt.year,
        quarter=d["week"].dt.to_period("Q").astype(str),
        hit=(d["y"] > 0).astype("int64"),
    )
    frames = []
    for subset in ("all", "onset"):
        part = d if subset == "all" else d[d["onset"].astype(bool)]
        for extra in ([], ["year"], ["quarter"]):
            g = part.groupby(["model", "target", "horizon", *extra], sort=True).agg(
                n=("y", "size"), positives=("hit", "sum"), mean_y=("y", "mean"), mean_p=("p", "mean")
            )
            g = g.reset_index().assign(subset=subset)
            for col in ("year", "quarter"):
                if col not in extra:
                    g[col] = pd.NA
            frames.append(g)
    out = pd.concat(frames, ignore_index=True)
    out = out.astype({"year": "Int64", "horizon": "int64", "n": "int64", "positives": "int64"})
    out = out.astype({"model": "string", "target": "string", "subset": "string", "quarter": "string"})
    return out[list(SUMMARY_COLUMNS)]


# ----------------------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _model_label(model: str, best: str | None) -> str:
    if model == best:
        return f"**{model}** (best)"
    return f"*{model}*" if model in REFERENCE_MODELS else model


def _ordered_models(metrics: pd.DataFrame, config: ExperimentConfig) -> list[str]:
    present = set(metrics["model"].astype(str))
    order = [m for m in REFERENCE_MODELS if m in present]
    order += [m for m in config.models if m in present and m not in order]
    return order + sorted(present - set(order))


def _overall(metrics: pd.DataFrame, target: str, horizon: int, subset: str = "all") -> pd.DataFrame:
    sel = overall_scores(metrics, target, horizon, subset)
    return sel.pivot_table(index="model", columns="metric", values="value", aggfunc="first", sort=False)


def _n_rows(metrics: pd.DataFrame, target: str, horizon: int, model: str, subset: str = "all") -> str:
    sel = overall_scores(metrics, target, horizon, subset, model=model)
    return f"{int(sel['n'].max()):,}" if len(sel) else "–"


def _summary_row(
    summary: pd.DataFrame | None, model: str, target: str, horizon: int, subset: str, year: int | None
) -> dict[str, float]:
    empty = {"n": math.nan, "positives": math.nan, "mean_y": math.nan, "mean_p": math.nan}
    if summary is None:
        return empty
    s = summary
    sel = s[
        (s["model"] == model) & (s["target"] == target) & (s["horizon"] == horizon) & (s["subset"] == subset)
    ]
    if "quarter" in sel.columns:
        sel = sel[sel["quarter"].isna()]
    sel = sel[sel["year"].isna()] if year is None else sel[sel["year"] == year]
    return empty if sel.empty else {k: float(sel.iloc[0][k]) for k in empty}


def _best(rec: BacktestRecord) -> dict[tuple[str, int], str]:
    return select_models(rec.metrics, rec.config.primary.metric, rec.config.primary.subset)


def _columns(target: str) -> tuple[tuple[str, str, int], ...]:
    return BINARY_COLUMNS if TARGET_KINDS[target] == "binary" else COUNT_COLUMNS


# ----------------------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------------------


def _years(config: ExperimentConfig) -> str:
    label = config.backtest.test_label
    return label.replace("-", "–", 1) if config.backtest.test_years else label


def title(config: ExperimentConfig) -> str:
    """Return a dataset's heading: source, countries and region unit."""
    sources = {"acled": "ACLED", "ucdp_ged": "UCDP GED", "ucdp_candidate": "UCDP Candidate"}
    source = " + ".join(sources[s] for s in config.data.sources) or "all sources"
    unit = {"admin1": "admin-1", "grid": "PRIO-GRID 0.5°", "country": "country"}[config.data.unit]
    countries = ", ".join(config.data.countries) or "all countries"
    return f"{source} · {countries} · {unit}"


def _model_table(rec: BacktestRecord, target: str, horizon: int, best: str | None) -> str:
    cols = _columns(target)
    table = _overall(rec.metrics, target, horizon)
    bounds = _bounds(rec.metrics, target, horizon)
    rows = []
    for model in _ordered_models(rec.metrics[rec.metrics["target"] == target], rec.config):
        if model not in table.index:
            continue
        values = [
            _fmt(table.loc[model].get(metric, math.nan), d) + bounds.get((model, metric), "")
            for metric, _, d in cols
        ]
        rows.append([_model_label(model, best), _n_rows(rec.metrics, target, horizon, model), *values])
    out = _table(["model", "n", *[label for _, label, _ in cols]], rows)
    ref = _reference(rec.metrics, target, horizon, best)
    return out + (f"\n\nBSS best: Brier skill against {ref}, the strongest baseline here." if ref else "")


def _bounds(metrics: pd.DataFrame, target: str, horizon: int) -> dict[tuple[str, str], str]:
    """Return (model, metric) -> " [lo, hi]" for the overall scores that carry a bootstrap interval."""
    m = metrics
    if "lo" not in m.columns:
        return {}
    sel = overall_scores(m, target, horizon)
    sel = sel[sel["lo"].notna()]
    return {(str(r.model), str(r.metric)): f" [{r.lo:.3f}, {r.hi:.3f}]" for r in sel.itertuples(index=False)}


def _reference(metrics: pd.DataFrame, target: str, horizon: int, model: str | None) -> str:
    """Return the best baseline ``brier_skill_best`` names for ``model`` (empty when not recorded)."""
    m = metrics
    if model is None or "reference" not in m.columns:
        return ""
    sel = overall_scores(m, target, horizon, model=model, metric="brier_skill_best")
    return "" if sel.empty or pd.isna(sel["reference"].iloc[0]) else str(sel["reference"].iloc[0])


def _quarter_table(rec: BacktestRecord, target: str, best: dict[tuple[str, int], str]) -> str:
    """Return the best model's mean forecast against the observed rate per quarter and horizon."""
    s = rec.summary
    if s is None or "quarter" not in s.columns:
        return ""
    rows = []
    for horizon in rec.config.horizons:
        model = best.get((target, horizon))
        sel = s[
            (s["model"] == model)
            & (s["target"] == target)
            & (s["horizon"] == horizon)
            & (s["subset"] == "all")
            & s["quarter"].notna()
        ].sort_values("quarter")
        for r in sel.itertuples(index=False):
            gap = r.mean_p - r.mean_y
            rows.append(
                [
                    f"{horizon}",
                    str(r.quarter),
                    str(model),
                    f"{int(r.n):,}",
                    _fmt(r.mean_y),
                    _fmt(r.mean_p),
                    _fmt(gap),
                ]
            )
    if not rows:
        return ""
    header = ["h", "quarter", "model", "n", "observed", "mean forecast", "forecast - observed"]
    return _table(header, rows, numeric_from=3)


def _label_line(rec: BacktestRecord, target: str, horizon: int, best: str | None) -> str:
    lab = _summary_row(rec.summary, best or "climatology", target, horizon, "all", None)
    if math.isnan(lab["n"]):
        return ""
    if TARGET_KINDS[target] == "binary":
        return (
            f"Observed: civilians killed in {int(lab['positives']):,} of {int(lab['n']):,} region-windows "
            f"({100 * lab['mean_y']:.1f}%); {best} forecast {100 * lab['mean_p']:.1f}% on average.\n\n"
        )
    return (
        f"Observed: a mean of {lab['mean_y']:.2f} civilians killed per region-window, in "
        f"{int(lab['positives']):,} of {int(lab['n']):,} windows at least one; {best} forecast "
        f"{lab['mean_p']:.2f} on average.\n\n"
    )


def _yearly_table(rec: BacktestRecord, target: str, best: dict[tuple[str, int], str]) -> str:
    cols = _columns(target)
    m = rec.metrics
    rows = []
    for horizon in rec.config.horizons:
        model = best.get((target, horizon))
        if model is None:
            continue
        sel = m[
            (m["target"] == target)
            & (m["horizon"] == horizon)
            & (m["model"] == model)
            & (m["subset"] == "all")
        ]
        for year in sorted(int(y) for y in sel["year"].dropna().unique()):
            part = sel[sel["year"] == year].set_index("metric")
            lab = _summary_row(rec.summary, model, target, horizon, "all", year)
            obs = _fmt(lab["mean_y"], 3 if TARGET_KINDS[target] == "binary" else 2)
            fc = _fmt(lab["mean_p"], 3 if TARGET_KINDS[target] == "binary" else 2)
            n = f"{int(part['n'].max()):,}"
            values = [_fmt(float(part["value"].get(metric, math.nan)), d) for metric, _, d in cols]
            rows.append([f"{horizon}", f"{year}", model, n, obs, fc, *values])
    header = ["h", "year", "model", "n", "observed", "mean forecast", *[label for _, label, _ in cols]]
    return _table(header, rows, numeric_from=3)


def _onset_table(rec: BacktestRecord, target: str, best: dict[tuple[str, int], str]) -> str:
    cols = [c for c in BINARY_COLUMNS if c[0] not in ("precision_top10pct", "recall_top10pct")]
    rows = []
    for horizon in rec.config.horizons:
        model = best.get((target, horizon))
        table = _overall(rec.metrics, target, horizon, "onset")
        for name in dict.fromkeys([model, "persistence", "climatology"]):
            if name is None or name not in table.index:
                continue
            lab = _summary_row(rec.summary, name, target, horizon, "onset", None)
            pos = "–" if math.isnan(lab["positives"]) else f"{int(lab['positives']):,}"
            values = [_fmt(table.loc[name].get(metric, math.nan), d) for metric, _, d in cols]
            n = _n_rows(rec.metrics, target, horizon, name, "onset")
            label = _model_label(name, model)
            rows.append([f"{horizon}", label, n, pos, _fmt(lab["mean_y"]), _fmt(lab["mean_p"]), *values])
    header = ["h", "model", "n", "with harm", "observed", "mean forecast", *[label for _, label, _ in cols]]
    return _table(header, rows, numeric_from=2)


def _other_targets(rec: BacktestRecord, best: dict[tuple[str, int], str], shown: set[str]) -> str:
    rows = []
    for target in rec.config.targets:
        if target in shown or TARGET_KINDS[target] != "binary":
            continue
        for horizon in rec.config.horizons:
            model = best[(target, horizon)]
            row = _overall(rec.metrics, target, horizon).loc[model]
            lab = _summary_row(rec.summary, model, target, horizon, "all", None)
            values = [_fmt(row.get(metric, math.nan), d) for metric, _, d in BINARY_COLUMNS]
            rows.append([target, f"{horizon}", model, _fmt(lab["mean_y"]), *values])
    if not rows:
        return ""
    header = ["target", "h", "best model", "observed", *[label for _, label, _ in BINARY_COLUMNS]]
    return "### Other targets (best model)\n\n" + _table(header, rows, numeric_from=3) + "\n"


def dataset_section(rec: BacktestRecord) -> str:
    """Return the markdown section of one backtest: model tables per horizon, per-year rows, onset rows."""
    cfg = rec.config
    best = _best(rec)
    out = [f"## {title(cfg)}\n", f"Config `{cfg.name}`." + (f" {rec.description}" if rec.description else "")]
    cadence = (
        f"refit every {cfg.backtest.retrain_every} weeks"
        if cfg.backtest.protocol == "rolling"
        else "one model fitted at the first test origin (frozen, as a published model lives)"
    )
    out.append(
        f"\nTest period {_years(cfg)}, {cadence}, data lag {cfg.backtest.data_lag_weeks} week(s), "
        f"{rec.n_regions:,} regions; {rec.n_notes} backtest notes (degenerate folds and the like, in the "
        "MLflow run's notes.txt).\n"
    )
    shown = [t for t in ("civ_any", "civ_deaths") if t in cfg.targets]
    for target in shown:
        kind = "probability of at least one civilian killed" if target == "civ_any" else "civilians killed"
        out.append(f"### {target} ({kind})\n")
        for horizon in cfg.horizons:
            model = best.get((target, horizon))
            out.append(f"#### h = {horizon} week{'s' if horizon > 1 else ''}\n")
            out.append(
                _label_line(rec, target, horizon, model) + _model_table(rec, target, horizon, model) + "\n"
            )
        out.append(f"#### {target}: best model per test year\n")
        out.append(_yearly_table(rec, target, best) + "\n")
        if cfg.backtest.test_window is not None and TARGET_KINDS[target] == "binary":
            out.append(f"#### {target}: mean forecast against what happened, by quarter\n")
            out.append(_quarter_table(rec, target, best) + "\n")
        if TARGET_KINDS[target] == "binary":
            out.append(
                f"#### {target}: onset rows (no civilian deaths in the 26 weeks known at the origin)\n"
            )
            out.append(_onset_table(rec, target, best) + "\n")
    other = _other_targets(rec, best, set(shown))
    if other:
        out.append(other)
    return "\n".join(out)


def goal_section(records: Sequence[BacktestRecord], goal: Goal) -> str:
    """Return one goal check: a line per criterion with ✔/✘ and the numbers behind it."""
    head = f"## Goal check: {goal.name} (config `{goal.config}`, {goal.test_label})\n"
    rec = next((r for r in records if r.config.name == goal.config), None)
    if rec is None:
        return head + f"\nNot checked: config `{goal.config}` was not among the backtests rendered.\n"
    report = check_goal(rec.metrics, rec.summary, goal, rec.config.backtest.test_label)
    return head + "\n" + goal_text(report)


def goal_text(report: GoalReport) -> str:
    """Return the goal check's table and its explanations as markdown."""
    rows = [[c.name, c.wanted, _fmt(c.value), "✔" if c.passed else "✘"] for c in report.criteria]
    verdict = (
        "met"
        if report.passed
        else f"not met ({sum(not c.passed for c in report.criteria)} of "
        f"{len(report.criteria)} criteria short)"
    )
    models = ", ".join(f"**{m}** at h = {h}" for h, m in sorted(report.models.items()))
    lines = [
        f"Models checked: {models or 'none'}, the ones the champion rule picks (best Brier skill against "
        f"the strongest baseline). Goal {verdict}.\n",
        _table(["criterion", "wanted", "value", ""], rows, numeric_from=2),
        "",
    ]
    lines += [f"- {'✔' if c.passed else '✘'} **{c.name}**: {c.explanation}" for c in report.criteria]
    return "\n".join(lines) + "\n"


def _overview(records: Sequence[BacktestRecord]) -> str:
    rows = []
    for rec in records:
        cfg = rec.config
        files = ", ".join(f"`{f}`" for f in rec.input_files)
        rows.append(
            [
                f"[{title(cfg)}](#{_anchor(title(cfg))})",
                f"`{cfg.name}`",
                _years(cfg),
                ", ".join(str(h) for h in cfg.horizons),
                f"{rec.n_regions:,}",
                files,
                f"`{rec.data_fingerprint[:12]}`",
                f"{_seconds(rec.inputs_seconds)} + {_seconds(rec.backtest_seconds)}"
                if not math.isnan(rec.backtest_seconds)
                else "not recorded",
                f"`{rec.run_id}`" if rec.run_id else "–",
            ]
        )
    header = [
        "dataset",
        "config",
        "test years",
        "horizons",
        "regions",
        "input files",
        "data sha256",
        "runtime (inputs + backtest)",
        "MLflow run",
    ]
    return _table(header, rows, numeric_from=len(header))


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:,.0f} s"


def _anchor(text: str) -> str:
    keep = "".join(ch for ch in text.lower() if ch.isalnum() or ch in " -_")
    return keep.replace(" ", "-")


def _provenance(records: Sequence[BacktestRecord], header: Header) -> str:
    lines = [f"- Commit: `{header.commit}`", f"- Date: {header.date}", f"- Command: `{header.command}`"]
    if header.rendered_from_mlflow:
        runs = ", ".join(f"`{c}`" for c in dict.fromkeys(r.command for r in records))
        lines[0] = "- Backtests run at commit: " + ", ".join(
            f"`{c}`" for c in dict.fromkeys(r.commit for r in records)
        )
        lines[2] = f"- Rendered from the MLflow runs with `{header.command}`; backtests run by {runs}"
    lines.append(f"- MLflow tracking store: `{header.tracking_uri}` (one run per backtest, ids below)")
    return "\n".join(lines) + "\n"


def render_results(records: Sequence[BacktestRecord], header: Header, goals: Sequence[Goal] = GOALS) -> str:
    """Return RESULTS.md: provenance, overview, goal checks, one section per backtest, citations."""
    parts = [
        "# Results on real data\n",
        "Generated by `experiments/results.py` from rolling-origin backtests (docs/BACKTEST.md); do not edit "
        "by hand, re-run the command below.\n",
        _provenance(records, header),
        "Scores pool all test origins unless a table says otherwise; `n` is the number of region-windows "
        "scored. Every baseline (climatology, the recent climatology of the last 52 weeks, persistence, "
        "conflictology) is recomputed at every origin from what was known then. BSS best: Brier skill "
        "against the strongest of them on the same rows (named under each table; 1 is perfect, 0 no better, "
        "below 0 worse); BSS clim: against climatology alone, as earlier versions reported it. "
        "[lo, hi]: 90% block-bootstrap interval over origin weeks (13-week blocks). AP: average precision, "
        "beside the base rate (a forecast without skill scores the base rate). ECE: expected calibration "
        "error (10 bins). P@10% / R@10%: precision and recall when alerting on the top 10% of regions each "
        "week. Learned models' probabilities are recalibrated at each origin from their resolved earlier "
        "forecasts (docs/BACKTEST.md). Counts: CRPS (pinball approximation over q05..q95), CRPS ens. (the "
        "quantiles as an ensemble, scoringrules, as VIEWS scores it), Brier y>0 (of P(any civilian "
        "killed)), Ignorance (bits, VIEWS bins), MSLE (log1p scale) and the share of outcomes inside the 80% "
        "interval (q10..q90). Baselines are in italics; the best model (BSS best for binary targets, CRPS "
        "for counts) in bold.\n",
        "## Backtests\n",
        _overview(records) + "\n",
        *[goal_section(records, goal) for goal in goals],
        *[dataset_section(r) for r in records],
        citations(records),
    ]
    return "\n".join(parts)
