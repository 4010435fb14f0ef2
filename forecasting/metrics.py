"""Forecast metrics as plain functions of arrays, and ``evaluate``: forecasts + actuals -> tidy table.

Binary targets (``p`` is a probability): Brier score, Brier skill against a reference forecast, clipped
log loss, ROC-AUC, average precision, expected calibration error, the reliability table, and precision /
recall when alerting on the top k% of regions of each origin week (the planner's alert budget).
Count targets (``p`` is the expected count, ``qNN`` columns hold quantiles): MSLE, CRPS, 80% coverage
(of the interval q10..q90, and of the randomised PIT: see below).

Definitions that are choices, written down once:

- **ECE**: 10 equal-width bins ``[0, .1), [.1, .2), ..., [.9, 1.0]`` (the last bin closed);
  ``ECE = sum_b (n_b / N) * |mean(y in b) - mean(p in b)|``; empty bins contribute nothing.
- **Top-k% alerts**: per origin week, alert ``ceil(k% * n)`` of the ``n`` regions with a forecast, highest
  ``p`` first. Ties at the budget boundary are shared: when ``r`` alert slots remain for ``m`` tied regions
  holding ``m_pos`` positives, they count ``r * m_pos / m`` hits (the expectation under a random draw), so a
  forecast with many ties (persistence) is scored neither luckily nor unluckily. Precision and recall
  pool the weeks: ``sum(hits) / sum(alerts)`` and ``sum(hits) / sum(positives)``.
- **CRPS** from quantiles: ``CRPS(F, y) = 2 * integral_0^1 QS_tau(F^-1(tau), y) dtau`` (Gneiting & Raftery
  2007), approximated by the mean pinball loss over the forecast's quantile levels (``q05 .. q95``
  columns), times 2. ``crps_ensemble`` is the exact CRPS of an ensemble of samples (properscoring's).
- **PIT coverage** (``pit_coverage80``): the share of randomised PITs (uniform on ``[F(y-1), F(y)]``, Czado
  et al. 2009) inside [0.1, 0.9], taken in expectation over the randomisation, with ``F`` read from the
  quantile grid as forecasting/count_recalibration.py reads it. A calibrated forecaster scores 0.80. The
  interval coverage of integer counts cannot: [q10, q90] must hold whole mass points (with 85% of the mass
  at 0, q10 = q90 = 0 covers 85%), so a calibrated forecaster covers more than 80% there.
- **Undefined** scores (AUC with one class, AP without positives, skill against a perfect reference)
  are NaN, never a made-up number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pandas as pd

from forecasting.count_recalibration import pit_bounds, pit_coverage
from forecasting.targets import TARGET_KINDS

ArrayLike: TypeAlias = Sequence[float] | np.ndarray | pd.Series

LOG_LOSS_EPS = 1e-6
"""Probabilities are clipped to [eps, 1 - eps] before the log loss (one 0/1 miss would be infinite)."""

N_BINS = 10

_QCOL = re.compile(r"^q(?P<level>\d{2})$")

# ----------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------


def _binary_inputs(y: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=float)
    p_arr = np.asarray(p, dtype=float)
    if y_arr.shape != p_arr.shape or y_arr.ndim != 1:
        raise ValueError(
            f"y and p must be 1-d and of equal length; got shapes {y_arr.shape} and {p_arr.shape}"
        )
    bad_y = ~np.isin(y_arr, (0.0, 1.0))
    if bad_y.any():
        raise ValueError(
            f"y must hold only 0 and 1 (drop NaN labels first); got {int(bad_y.sum())} other values, "
            f"e.g. {y_arr[bad_y][:3].tolist()}"
        )
    bad_p = ~((p_arr >= 0.0) & (p_arr <= 1.0))
    if bad_p.any():
        raise ValueError(
            f"p must hold probabilities in [0, 1]; got {int(bad_p.sum())} values outside, "
            f"e.g. {p_arr[bad_p][:3].tolist()}"
        )
    return y_arr, p_arr


def _count_inputs(y: ArrayLike, yhat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=float)
    f_arr = np.asarray(yhat, dtype=float)
    if y_arr.shape[0] != f_arr.shape[0]:
        raise ValueError(f"y and the forecast differ in length: {y_arr.shape[0]} vs {f_arr.shape[0]}")
    for name, arr in (("y", y_arr), ("forecast", f_arr)):
        bad = ~(arr >= 0.0)
        if bad.any():
            raise ValueError(
                f"{name} must hold non-negative counts; got {int(bad.sum())} negative or NaN values"
            )
    return y_arr, f_arr


# ----------------------------------------------------------------------------------------------
# Binary targets
# ----------------------------------------------------------------------------------------------


def brier_score(y: ArrayLike, p: ArrayLike) -> float:
    """Return the mean squared difference between probability and outcome."""
    y_arr, p_arr = _binary_inputs(y, p)
    return float(np.mean((p_arr - y_arr) ** 2))


def brier_skill(y: ArrayLike, p: ArrayLike, p_ref: ArrayLike) -> float:
    """Return ``1 - BS(p) / BS(p_ref)`` on the same rows; NaN when the reference is perfect."""
    bs_ref = brier_score(y, p_ref)
    return float("nan") if bs_ref == 0.0 else 1.0 - brier_score(y, p) / bs_ref


def log_loss(y: ArrayLike, p: ArrayLike, eps: float = LOG_LOSS_EPS) -> float:
    """Return the mean negative log likelihood with ``p`` clipped to ``[eps, 1 - eps]``."""
    y_arr, p_arr = _binary_inputs(y, p)
    p_arr = np.clip(p_arr, eps, 1.0 - eps)
    return float(-np.mean(y_arr * np.log(p_arr) + (1.0 - y_arr) * np.log1p(-p_arr)))


def roc_auc(y: ArrayLike, p: ArrayLike) -> float:
    """Return the area under the ROC curve (Mann-Whitney, ties count half); NaN with one class."""
    y_arr, p_arr = _binary_inputs(y, p)
    n_pos = int(y_arr.sum())
    n_neg = y_arr.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(p_arr).rank(method="average").to_numpy()
    return float((ranks[y_arr == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y: ArrayLike, p: ArrayLike) -> float:
    """Return sum over thresholds of recall step x precision (scikit-learn's AP); NaN without positives."""
    y_arr, p_arr = _binary_inputs(y, p)
    n_pos = y_arr.sum()
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-p_arr, kind="mergesort")
    p_sorted, y_sorted = p_arr[order], y_arr[order]
    # one point per distinct threshold: the last row of each run of equal scores
    last_of_run = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    tps = np.cumsum(y_sorted)[last_of_run]
    alerts = np.arange(1, y_arr.size + 1)[last_of_run]
    recall = tps / n_pos
    precision = tps / alerts
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def reliability_table(y: ArrayLike, p: ArrayLike, n_bins: int = N_BINS) -> pd.DataFrame:
    """Return per equal-width bin: bounds, n, mean forecast and observed frequency (NaN when empty)."""
    y_arr, p_arr = _binary_inputs(y, p)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # [lo, hi) bins, the last one closed so that p == 1 lands in it
    idx = np.clip(np.searchsorted(edges, p_arr, side="right") - 1, 0, n_bins - 1)
    n = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_mean = np.bincount(idx, weights=p_arr, minlength=n_bins) / n
        y_mean = np.bincount(idx, weights=y_arr, minlength=n_bins) / n
    return pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "lower": edges[:-1],
            "upper": edges[1:],
            "n": n.astype("int64"),
            "p_mean": p_mean,
            "y_mean": y_mean,
        }
    )


def expected_calibration_error(y: ArrayLike, p: ArrayLike, n_bins: int = N_BINS) -> float:
    """Return ``sum_b n_b/N * |ybar_b - pbar_b|`` over equal-width bins (see the module docstring)."""
    table = reliability_table(y, p, n_bins)
    filled = table[table["n"] > 0]
    return float((filled["n"] * (filled["y_mean"] - filled["p_mean"]).abs()).sum() / table["n"].sum())


def top_k_alerts(y: ArrayLike, p: ArrayLike, groups: ArrayLike, share: float) -> tuple[float, float]:
    """Return (precision, recall) when alerting on the top ``share`` of rows of each group (origin week)."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], e.g. 0.1 for the top 10%; got {share}")
    y_arr, p_arr = _binary_inputs(y, p)
    frame = pd.DataFrame({"g": np.asarray(groups), "y": y_arr, "p": p_arr})
    # one row per (group, distinct score): a run of ties is alerted whole, in part, or not at all
    runs = frame.groupby(["g", "p"], sort=True)["y"].agg(["size", "sum"]).reset_index()
    runs = runs.iloc[::-1]  # highest score first within each group
    n_group = runs.groupby("g", sort=False)["size"].transform("sum")
    budget = np.ceil(share * n_group.to_numpy() - 1e-9)
    above = runs.groupby("g", sort=False)["size"].cumsum().to_numpy() - runs["size"].to_numpy()
    take = np.clip(budget - above, 0, runs["size"].to_numpy())
    hits = float((take * runs["sum"].to_numpy() / runs["size"].to_numpy()).sum())
    alerts = float(np.ceil(share * frame.groupby("g", sort=False).size().to_numpy() - 1e-9).sum())
    positives = y_arr.sum()
    precision = hits / alerts if alerts else float("nan")
    recall = hits / positives if positives else float("nan")
    return float(precision), float(recall)


# ----------------------------------------------------------------------------------------------
# Count targets
# ----------------------------------------------------------------------------------------------


def msle(y: ArrayLike, yhat: ArrayLike) -> float:
    """Return the mean squared error of ``log1p`` counts."""
    y_arr, f_arr = _count_inputs(y, yhat)
    return float(np.mean((np.log1p(y_arr) - np.log1p(f_arr)) ** 2))


def crps_ensemble(y: ArrayLike, samples: np.ndarray) -> np.ndarray:
    """Return per row the CRPS of an equally weighted ensemble: ``E|X - y| - E|X - X'| / 2``."""
    y_arr = np.asarray(y, dtype=float)
    s = np.sort(np.asarray(samples, dtype=float), axis=1)
    if s.ndim != 2 or s.shape[0] != y_arr.shape[0]:
        raise ValueError(f"samples must be (n_rows, n_members) with n_rows={y_arr.shape[0]}; got {s.shape}")
    m = s.shape[1]
    first = np.abs(s - y_arr[:, None]).mean(axis=1)
    # E|X - X'| over sorted members: sum_i (2i - m - 1) x_(i) * 2 / m^2
    weights = 2 * np.arange(1, m + 1) - m - 1
    spread = 2.0 * (s * weights).sum(axis=1) / m**2
    return first - 0.5 * spread


def pinball_loss(y: ArrayLike, q: ArrayLike, level: float) -> np.ndarray:
    """Return per row the quantile (pinball) loss of quantile ``q`` at ``level``."""
    diff = np.asarray(y, dtype=float) - np.asarray(q, dtype=float)
    return np.maximum(level * diff, (level - 1.0) * diff)


def crps_quantiles(y: ArrayLike, quantiles: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Return per row ``2 * mean_tau pinball_tau``: the CRPS approximated from quantiles at ``levels``."""
    q = np.asarray(quantiles, dtype=float)
    if q.ndim != 2 or q.shape[1] != len(levels):
        raise ValueError(
            f"quantiles must be (n_rows, {len(levels)}) for levels {list(levels)}; got {q.shape}"
        )
    losses = np.column_stack([pinball_loss(y, q[:, j], lv) for j, lv in enumerate(levels)])
    return 2.0 * losses.mean(axis=1)


def interval_coverage(y: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Return the share of outcomes inside ``[lower, upper]``."""
    y_arr = np.asarray(y, dtype=float)
    return float(
        np.mean((y_arr >= np.asarray(lower, dtype=float)) & (y_arr <= np.asarray(upper, dtype=float)))
    )


def quantile_columns(columns: Iterable[str]) -> dict[str, float]:
    """Return ``{"q05": 0.05, ...}`` for the quantile columns among ``columns``, in level order."""
    found = {c: int(m["level"]) / 100 for c in columns if (m := _QCOL.match(c))}
    return dict(sorted(found.items(), key=lambda kv: kv[1]))


# ----------------------------------------------------------------------------------------------
# evaluate: forecasts + actuals -> tidy metrics table
# ----------------------------------------------------------------------------------------------

_KEYS = ["region_id", "week", "horizon", "target"]
EVALUATION_COLUMNS = ("model", "target", "horizon", "year", "subset", "metric", "value", "n", "reference")


MetricFn = Callable[[pd.DataFrame], float]
"""A metric of one slice of scored rows (columns y, p, [p_ref_<model>], week, horizon, qNN)."""


@dataclass(frozen=True)
class MetricSpec:
    """One metric family of the registry: the names it answers to, the targets it scores, its direction."""

    pattern: str
    """Regular expression of the names (named groups are the family's parameters)."""
    kinds: tuple[str, ...]
    """Target kinds it applies to: ``binary`` (p is a probability), ``count`` (p is an expected count)."""
    greater_is_better: bool
    build: Callable[[re.Match[str]], MetricFn]
    doc: str
    reference: Callable[[re.Match[str], pd.DataFrame], str | None] | None = None
    """For skill scores: the model the score is relative to (the ``reference`` column of the table)."""

    def match(self, name: str) -> re.Match[str] | None:
        """Return the match of ``name`` against this family, or None."""
        return re.fullmatch(self.pattern, name)


def _crps(d: pd.DataFrame) -> float:
    qcols = quantile_columns(d.columns)
    if not qcols:
        raise ValueError("crps needs quantile columns q05..q95 in the forecasts; found none")
    return float(crps_quantiles(d["y"], d[list(qcols)].to_numpy(), list(qcols.values())).mean())


def _ensemble(d: pd.DataFrame) -> np.ndarray:
    """Return the forecasts' quantiles q05..q95 as an (n, m) ensemble, one member per quantile level."""
    qcols = quantile_columns(d.columns)
    if not qcols:
        raise ValueError("count scores need quantile columns q05..q95 in the forecasts; found none")
    return d[list(qcols)].to_numpy(dtype="float64")


def _crps_samples(d: pd.DataFrame) -> float:
    import scoringrules

    return float(np.mean(scoringrules.crps_ensemble(d["y"].to_numpy(dtype="float64"), _ensemble(d))))


def _pit_coverage80(d: pd.DataFrame) -> float:
    qcols = quantile_columns(d.columns)
    if not qcols:
        raise ValueError("pit_coverage80 needs quantile columns q05..q95 in the forecasts; found none")
    y = d["y"].to_numpy(dtype="float64")
    lo, hi = pit_bounds(y, d[list(qcols)].to_numpy(dtype="float64"), list(qcols.values()))
    return float(np.mean(pit_coverage(lo, hi)))


IGNORANCE_BINS = (0.0, 0.5, 2.5, 5.5, 10.5, 25.5, 50.5, 100.5, 500.5, 1000.5, np.inf)
"""Edges of the VIEWS count bins for the Ignorance score: 0, 1-2, 3-5, 6-10, 11-25, 26-50, 51-100,
101-500, 501-1000, more (first edge at -inf below)."""


def _ignorance(d: pd.DataFrame) -> float:
    """Return mean -log2 P(outcome's bin), bin probabilities from the ensemble with add-one smoothing."""
    edges = np.array((-np.inf, *IGNORANCE_BINS[1:]))
    members = _ensemble(d)
    n_bins = len(edges) - 1
    member_bin = np.clip(np.searchsorted(edges, members, side="right") - 1, 0, n_bins - 1)
    obs_bin = np.clip(
        np.searchsorted(edges, d["y"].to_numpy(dtype="float64"), side="right") - 1, 0, n_bins - 1
    )
    hits = (member_bin == obs_bin[:, None]).sum(axis=1)
    p = (hits + 1.0) / (members.shape[1] + n_bins)
    return float(np.mean(-np.log2(p)))


def _top_k(m: re.Match[str]) -> MetricFn:
    pos = 0 if m["kind"] == "precision" else 1
    share = int(m["pct"]) / 100
    # the budget applies per origin week (and horizon, when a slice pools horizons)
    return lambda d: top_k_alerts(d["y"], d["p"], d.groupby(["week", "horizon"]).ngroup(), share)[pos]


def best_baseline(d: pd.DataFrame) -> str:
    """Return the baseline with the lowest Brier score on these rows (its forecasts are ``p_base_<name>``)."""
    refs = [c for c in d.columns if c.startswith(BEST_PREFIX)]
    if not refs:
        raise ValueError("brier_skill_best needs the baselines' forecasts; pass evaluate(..., baselines=...)")
    return min(refs, key=lambda c: (brier_score(d["y"], d[c]), c)).removeprefix(BEST_PREFIX)


def _skill_vs_best(d: pd.DataFrame) -> float:
    """Return 1 - Brier / Brier of the best baseline on the same rows."""
    return brier_skill(d["y"], d["p"], d[BEST_PREFIX + best_baseline(d)])


BEST_PREFIX = "p_base_"
"""Columns holding each baseline's forecast beside a model's, for ``brier_skill_best``."""

METRIC_REGISTRY: tuple[MetricSpec, ...] = (
    MetricSpec("brier", ("binary",), False, lambda m: lambda d: brier_score(d["y"], d["p"]), "Brier score"),
    MetricSpec(
        "brier_skill_best",
        ("binary",),
        True,
        lambda m: _skill_vs_best,
        "1 - Brier / Brier of the strongest baseline on the same rows (the reference column names it)",
        reference=lambda m, d: best_baseline(d),
    ),
    MetricSpec(
        "base_rate",
        ("binary",),
        False,
        lambda m: lambda d: float(np.mean(d["y"])),
        "share of rows with the event: read average precision beside it",
    ),
    MetricSpec(
        r"brier_skill_(?P<ref>\w+)",
        ("binary",),
        True,
        lambda m: lambda d: brier_skill(d["y"], d["p"], d[f"p_ref_{m['ref']}"]),
        "1 - Brier / Brier of model <ref> on the same rows",
        reference=lambda m, d: m["ref"],
    ),
    MetricSpec(
        "log_loss", ("binary",), False, lambda m: lambda d: log_loss(d["y"], d["p"]), "clipped log loss"
    ),
    MetricSpec("roc_auc", ("binary",), True, lambda m: lambda d: roc_auc(d["y"], d["p"]), "ROC-AUC"),
    MetricSpec(
        "average_precision",
        ("binary",),
        True,
        lambda m: lambda d: average_precision(d["y"], d["p"]),
        "average precision (read it beside the base rate)",
    ),
    MetricSpec(
        "ece",
        ("binary",),
        False,
        lambda m: lambda d: expected_calibration_error(d["y"], d["p"]),
        f"expected calibration error, {N_BINS} equal-width bins",
    ),
    MetricSpec(
        r"(?P<kind>precision|recall)_top(?P<pct>\d+)pct",
        ("binary",),
        True,
        _top_k,
        "precision / recall when alerting on the top k% of regions each week",
    ),
    MetricSpec("msle", ("count",), False, lambda m: lambda d: msle(d["y"], d["p"]), "mean squared log error"),
    MetricSpec("crps", ("count",), False, lambda m: _crps, "CRPS from the quantiles q05..q95"),
    MetricSpec(
        "crps_samples",
        ("count",),
        False,
        lambda m: _crps_samples,
        "CRPS of the quantiles q05..q95 as an equally weighted ensemble (scoringrules; the VIEWS score)",
    ),
    MetricSpec(
        "brier_nonzero",
        ("count",),
        False,
        lambda m: lambda d: brier_score(d["y"] > 0, d["p_nonzero"]),
        "Brier score of P(any civilian killed) from the count distribution (VIEWS' Brier on y > 0)",
    ),
    MetricSpec(
        "ignorance",
        ("count",),
        False,
        lambda m: _ignorance,
        "mean -log2 probability of the outcome's bin (VIEWS bins 0, 1-2, 3-5, ..., >1000) from the quantiles",
    ),
    MetricSpec(
        "coverage80",
        ("count",),
        True,
        lambda m: lambda d: interval_coverage(d["y"], d["q10"], d["q90"]),
        "share of outcomes inside q10..q90",
    ),
    MetricSpec(
        "pit_coverage80",
        ("count",),
        True,
        lambda m: _pit_coverage80,
        "share of randomised PITs inside [0.1, 0.9] (0.80 when calibrated, even for integer counts)",
    ),
)
"""Every metric a backtest may name; a new metric is one entry here."""

BINARY_METRICS = (
    "brier",
    "brier_skill_best",
    "base_rate",
    "brier_skill_climatology",
    "brier_skill_persistence",
    "log_loss",
    "roc_auc",
    "average_precision",
    "ece",
    "precision_top10pct",
    "recall_top10pct",
)
COUNT_METRICS = ("msle", "crps", "crps_samples", "brier_nonzero", "ignorance", "coverage80", "pit_coverage80")
DEFAULT_METRICS = BINARY_METRICS + COUNT_METRICS
"""The metrics a backtest computes unless its config lists others."""


def metric_spec(name: str) -> tuple[MetricSpec, re.Match[str]]:
    """Return the registry entry of metric ``name`` and its match; ValueError naming the known metrics."""
    for spec in METRIC_REGISTRY:
        if (m := spec.match(name)) is not None:
            return spec, m
    raise ValueError(
        f"unknown metric {name!r}; expected names from {list(DEFAULT_METRICS)} "
        "(brier_skill_<reference model> and precision/recall_top<k>pct take any model and k)"
    )


def greater_is_better(metric: str) -> bool:
    """Return True when a higher value of ``metric`` is better."""
    return metric_spec(metric)[0].greater_is_better


def skill_reference(metric: str) -> str | None:
    """Return the reference model a skill metric names (``brier_skill_<ref>``), else None (also for
    ``brier_skill_best``, whose reference is chosen per slice)."""
    spec, m = metric_spec(metric)
    return m["ref"] if "ref" in m.groupdict() else None


def check_metric_names(metrics: Sequence[str]) -> None:
    """Raise ValueError naming the first metric the registry does not know."""
    for name in metrics:
        metric_spec(name)


def evaluate(
    forecasts: pd.DataFrame,
    actuals: pd.DataFrame,
    metrics: Sequence[str] = DEFAULT_METRICS,
    by: Sequence[str] = ("horizon",),
    count_targets: Sequence[str] | None = None,
    subsets: Sequence[str] = (),
    baselines: Sequence[str] = (),
) -> pd.DataFrame:
    """Return a tidy table (model, target, horizon, [year], subset, metric, value, n, reference) of scores.

    ``forecasts`` is a FORECASTS table (plus ``qNN`` columns for counts); ``actuals`` a TARGETS table,
    optionally with boolean columns named in ``subsets`` (e.g. ``onset``): each yields the rows where it is
    True, besides subset ``all``. Rows whose label is NaN (outside coverage) are not scored; ``n`` counts
    the rows scored. ``by`` is a subset of ("horizon", "year"); year is the origin week's calendar year.
    ``brier_skill_<ref>`` compares with model ``<ref>``'s forecasts on exactly the same rows;
    ``brier_skill_best`` with the lowest-Brier model among ``baselines`` on those rows, which ``reference``
    names (the strongest simple baseline of that slice, chosen per slice).
    ``count_targets`` default: the targets of kind "count" in ``forecasting.targets.TARGET_KINDS``.
    """
    if count_targets is None:
        count_targets = [t for t, kind in TARGET_KINDS.items() if kind == "count"]
    check_metric_names(metrics)
    bad_by = sorted(set(by) - {"horizon", "year"})
    if bad_by:
        raise ValueError(f"by may hold 'horizon' and 'year'; got {bad_by}")
    missing = [s for s in subsets if s not in actuals.columns]
    if missing:
        raise ValueError(
            f"subset columns {missing} are not in the actuals table (columns: {list(actuals.columns)})"
        )
    scored = scored_rows(forecasts, actuals, metrics, subsets, baselines)
    best_cols = [c for c in scored.columns if c.startswith(BEST_PREFIX)]
    scored["year"] = scored["week"].dt.year
    group_cols = ["model", "target", *by]
    rows: list[dict[str, object]] = []
    for subset in ("all", *subsets):
        part = scored if subset == "all" else scored[scored[subset].astype(bool)]
        for key, grp in part.groupby(group_cols, sort=True):
            ident = dict(zip(group_cols, key, strict=True))
            kind = "count" if ident["target"] in count_targets else "binary"
            for metric in metrics:
                spec, match = metric_spec(metric)
                if kind not in spec.kinds:
                    continue
                d = grp
                if (ref := skill_reference(metric)) is not None:
                    # the reference may lack some rows (e.g. persistence before enough history)
                    d = grp[grp[f"p_ref_{ref}"].notna()]
                elif metric == "brier_skill_best":
                    if not best_cols:  # no baselines among the forecasts: nothing to compare with
                        continue
                    d = grp.dropna(subset=best_cols)
                value = spec.build(match)(d) if len(d) else float("nan")
                reference = spec.reference(match, d) if spec.reference and len(d) else None
                rows.append(
                    {**ident, "subset": subset, "metric": metric, "value": value, "n": len(d)}
                    | {"reference": reference}
                )
    columns = [
        c
        for c in EVALUATION_COLUMNS
        if c in ("model", "target", "subset", "metric", "value", "n", "reference") or c in by
    ]
    out = pd.DataFrame(rows, columns=columns)
    if "horizon" not in by:
        out.insert(2, "horizon", pd.array([pd.NA] * len(out), dtype="Int64"))
    return out.astype({"value": "float64", "n": "int64", "reference": "string"})


def scored_rows(
    forecasts: pd.DataFrame,
    actuals: pd.DataFrame,
    metrics: Sequence[str],
    subsets: Sequence[str] = (),
    baselines: Sequence[str] = (),
) -> pd.DataFrame:
    """Return the forecasts with their observed labels ``y``, subset flags, and the reference forecasts the
    skill metrics need (``p_ref_<model>``, and ``p_base_<baseline>`` for ``brier_skill_best``)."""
    labels = actuals.loc[actuals["y"].notna(), [*_KEYS, "y", *subsets]]
    scored = forecasts.merge(labels, on=_KEYS, how="inner", validate="many_to_one")
    refs = sorted({ref for name in metrics if (ref := skill_reference(name)) is not None})
    columns = [f"p_ref_{ref}" for ref in refs]
    if "brier_skill_best" in metrics:
        refs += list(baselines)
        columns += [BEST_PREFIX + b for b in baselines]
    for ref, col in zip(refs, columns, strict=True):
        ref_p = forecasts.loc[forecasts["model"] == ref, [*_KEYS, "p"]].rename(columns={"p": col})
        scored = scored.merge(ref_p, on=_KEYS, how="left", validate="many_to_one")
    return scored
