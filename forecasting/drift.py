"""Calibration drift of published forecasts: per country, are the forecasts of the last weeks still right?

Each verified week contributes additive sufficient statistics per country and horizon (rows, sums of p, y,
squared error and p(1 - p), and per equal-width bin the rows and sums of p and y), so a rolling window is
a sum. From the sums: mean forecast, observed rate, ECE (``forecasting.metrics`` bins), Brier score and the
calibration-in-the-large z statistic ``sum(y - p) / sqrt(h * sum p(1 - p))``. The factor h inflates the
variance for the overlapping h-week windows of consecutive origins (research for issue 10, item 2).

A country drifts when ``|z| >= z_threshold`` and the mean forecast is off by at least ``bias_threshold``
(both needed: many rows make a small bias significant, few rows make a large one noise).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from forecasting.metrics import N_BINS

SUMS = ("n", "sum_p", "sum_y", "sum_sq", "sum_var")
"""Whole-sample sufficient statistics; each bin b adds ``b{b}_n``, ``b{b}_p``, ``b{b}_y``."""


def calibration_sums(p: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> dict[str, float]:
    """Return the additive sufficient statistics of forecasts ``p`` and outcomes ``y`` (filled bins only)."""
    p, y = np.asarray(p, dtype="float64"), np.asarray(y, dtype="float64")
    out = {
        "n": float(len(p)),
        "sum_p": float(p.sum()),
        "sum_y": float(y.sum()),
        "sum_sq": float(((p - y) ** 2).sum()),
        "sum_var": float((p * (1 - p)).sum()),
    }
    idx = np.clip(np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1), p, side="right") - 1, 0, n_bins - 1)
    for b in np.unique(idx):
        sel = idx == b
        out |= {f"b{b}_n": float(sel.sum()), f"b{b}_p": float(p[sel].sum()), f"b{b}_y": float(y[sel].sum())}
    return out


@dataclass(frozen=True)
class CalibrationWatch:
    """Published calibration of one country and horizon over its last verified weeks, and the verdict."""

    iso3: str
    horizon: int
    weeks: int
    """Verified weeks summed (at most the window)."""
    n: int
    """Region-weeks scored."""
    mean_p: float
    observed: float
    ece: float
    brier: float
    z: float
    drifting: bool

    @property
    def bias(self) -> float:
        """Return mean forecast minus observed rate (positive: over-forecast)."""
        return self.mean_p - self.observed


def calibration_watch(
    iso3: str,
    horizon: int,
    sums: Mapping[str, float],
    weeks: int,
    z_threshold: float,
    bias_threshold: float,
) -> CalibrationWatch:
    """Return the calibration of summed statistics (:func:`calibration_sums` added over ``weeks``)."""
    n = float(sums.get("n", 0.0))
    if n <= 0:
        nan = float("nan")
        return CalibrationWatch(iso3, horizon, weeks, 0, nan, nan, nan, nan, nan, False)
    mean_p, observed = sums["sum_p"] / n, sums["sum_y"] / n
    bins = {k.split("_")[0] for k in sums if k.startswith("b") and k.endswith("_n")}
    ece = sum(abs(sums[f"{b}_y"] - sums[f"{b}_p"]) for b in bins) / n
    var = sums["sum_var"] * max(int(horizon), 1)
    z = (sums["sum_y"] - sums["sum_p"]) / np.sqrt(var) if var > 0 else 0.0
    drifting = bool(abs(z) >= z_threshold and abs(mean_p - observed) >= bias_threshold)
    return CalibrationWatch(
        iso3,
        int(horizon),
        int(weeks),
        int(n),
        mean_p,
        observed,
        float(ece),
        sums["sum_sq"] / n,
        float(z),
        drifting,
    )
