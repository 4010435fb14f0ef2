"""Count intervals that cover what they say: at each origin, a map of quantile levels fitted on the
randomised PIT values of a model's earlier count forecasts whose outcomes are resolved at the origin.

The resolution rule is the binary recalibration's (forecasting/recalibration.py, docs/BACKTEST.md): the
outcome of origin ``s`` at horizon ``h`` is known at origin ``t`` with data lag ``k`` iff
``s <= t - k - h + 1``.

The map (Kuleshov et al. 2018, with the randomised PIT of Czado et al. 2009 for counts): the PIT of an
integer outcome ``y`` under a predictive CDF ``F`` is uniform on ``[F(y - 1), F(y)]``. ``G`` is the CDF of
the mixture of those uniforms over the last ``window_weeks`` resolved origins, blended with ``prior_rows``
uniform pseudo-PITs so a short history moves it little. A calibrated forecaster has ``G(u) = u``; an
over-dispersed one piles its PITs in the middle. The recalibrated quantile at level ``tau`` is the raw
quantile at level ``G^-1(tau)``, i.e. the recalibrated CDF is ``G(F)``.

Forecasts carry their distribution as the quantile grid ``q05 .. q95``, so ``F`` is read from that grid:
the quantile function is the grid interpolated linearly in the level (constant beyond ``q05`` and
``q95``) and ``F(x) = sup{tau : Q(tau) <= x}``. New quantiles read the same interpolation at ``G^-1(tau)``,
so the recalibrated grid read the same way is exactly ``G(F)`` and the PIT coverage metric
(forecasting/metrics.py ``pit_coverage80``) reads forecasts the way the map does. The backtest
and the publication both call :func:`recalibrate_counts` on the same 19-level grid, so they apply the same
map to the same kind of evidence.

The default window was chosen on a backtest, not by hand (docs/BACKTEST.md, "Count intervals"). It is off
by default: publications do not apply it yet, and a backtest must score what is published.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

_WEEK_NS = 7 * 24 * 3600 * 10**9
_GRID = np.linspace(0.0, 1.0, 401)
"""Levels on which G is evaluated and inverted (steps of 0.0025, finer than the quantile grid's 0.05)."""

CENTRAL_80 = (0.1, 0.9)


class CountRecalSpec(BaseModel):
    """How a learned count model's quantiles are recalibrated at each origin (the ``[count_recalibration]``
    section of an experiment config; backtests apply it, publications do not yet: docs/BACKTEST.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    method: Literal["none", "pit"] = "none"
    """``pit``: map quantile levels through the empirical CDF of recent randomised PITs; ``none``: off, the
    default until publications apply the map too (a backtest would otherwise score intervals nobody sees)."""
    window_weeks: int = Field(52, ge=1)
    """Resolved origins whose PITs form the map: the last this many weeks of them."""
    prior_rows: float = Field(20.0, ge=0)
    """Uniform pseudo-PITs blended into the map, in rows: larger keeps it nearer no change."""


def pit_bounds(
    y: np.ndarray, quantiles: np.ndarray, levels: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(F(y - 1), F(y))`` per row, read from the quantile grid (``quantiles``: n x len(levels))."""
    y = np.asarray(y, dtype="float64")
    q = np.asarray(quantiles, dtype="float64")
    return _grid_cdf(q, y - 1.0, levels), _grid_cdf(q, y, levels)


def _grid_cdf(q: np.ndarray, x: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Return F(x) = sup{tau : Q(tau) <= x} per row, Q the grid's quantiles interpolated linearly in the
    level and constant beyond its ends (0 below the first quantile, 1 from the last)."""
    lv = np.asarray(levels, dtype="float64")
    m = len(lv)
    a = (q <= x[:, None] + 1e-9).sum(axis=1) - 1  # last level whose quantile is <= x (-1: none)
    inner = (a >= 0) & (a < m - 1)
    i = np.clip(a, 0, m - 2)
    rows = np.arange(len(x))
    q_a, q_b = q[rows, i], q[rows, i + 1]
    frac = np.where(q_b > q_a, np.clip((x - q_a) / np.where(q_b > q_a, q_b - q_a, 1.0), 0.0, 1.0), 0.0)
    f = np.where(inner, lv[i] + frac * (lv[i + 1] - lv[i]), np.where(a < 0, 0.0, 1.0))
    return np.where(x < 0, 0.0, f)


def pit_coverage(lo: np.ndarray, hi: np.ndarray, band: tuple[float, float] = CENTRAL_80) -> np.ndarray:
    """Return per row the probability that the randomised PIT, uniform on [lo, hi], falls inside ``band``
    (its mean is the PIT coverage: 0.8 for a calibrated forecaster, whatever the counts' discreteness)."""
    lo, hi = np.asarray(lo, dtype="float64"), np.asarray(hi, dtype="float64")
    width = hi - lo
    overlap = np.clip(np.minimum(hi, band[1]) - np.maximum(lo, band[0]), 0.0, None)
    point = ((lo >= band[0]) & (lo <= band[1])).astype("float64")
    return np.where(width > 1e-12, overlap / np.where(width > 1e-12, width, 1.0), point)


def level_map(lo: np.ndarray, hi: np.ndarray, prior_rows: float) -> np.ndarray:
    """Return G on ``_GRID``: the CDF of the uniforms on [lo, hi] blended with ``prior_rows`` uniforms."""
    lo, hi = np.asarray(lo, dtype="float64"), np.asarray(hi, dtype="float64")
    width = np.maximum(hi - lo, 1e-12)
    g = np.clip((_GRID[None, :] - lo[:, None]) / width[:, None], 0.0, 1.0).sum(axis=0)
    n = len(lo)
    g = (g + prior_rows * _GRID) / max(n + prior_rows, 1e-12)
    return np.maximum.accumulate(g + 1e-9 * _GRID)  # strictly increasing: invertible everywhere


def inverse_levels(g: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Return G^-1 at ``levels`` for G given on ``_GRID``."""
    return np.interp(np.asarray(levels, dtype="float64"), g, _GRID)


def quantiles_at(quantiles: np.ndarray, levels: Sequence[float], new_levels: np.ndarray) -> np.ndarray:
    """Return the rows' quantiles at ``new_levels``, interpolated linearly in the level on the grid
    (clamped to its first and last quantile outside it)."""
    lv = np.asarray(levels, dtype="float64")
    q = np.asarray(quantiles, dtype="float64")
    t = np.clip(np.asarray(new_levels, dtype="float64"), lv[0], lv[-1])
    i = np.clip(np.searchsorted(lv, t, side="right") - 1, 0, len(lv) - 2)
    w = (t - lv[i]) / (lv[i + 1] - lv[i])
    out = q[:, i] * (1 - w) + q[:, i + 1] * w
    return np.maximum.accumulate(out, axis=1)


def recalibrate_counts(
    rows: pd.DataFrame,
    horizon: int,
    data_lag_weeks: int,
    spec: CountRecalSpec,
    origins: pd.DatetimeIndex,
    columns: Sequence[str],
    levels: Sequence[float],
) -> pd.DataFrame:
    """Return recalibrated quantiles (``columns``) and ``p_nonzero`` of the rows whose week is in
    ``origins`` (NaN for other rows).

    ``rows`` are one model's forecasts of one count target at ``horizon``: ``week``, the raw quantile
    ``columns`` at ``levels``, ``p_nonzero`` (raw P(y > 0)) and ``y`` (NaN when unknown). The map of origin
    ``t`` reads rows with ``week <= t - k - h + 1`` inside the last ``window_weeks`` such weeks and a known
    ``y``: outcomes not yet resolved at ``t`` are never read (tests/test_count_recalibration.py flips them
    to prove it).
    """
    cols = list(columns)
    out = pd.DataFrame(np.nan, index=rows.index, columns=[*cols, "p_nonzero"])
    ns = rows["week"].to_numpy("datetime64[ns]").astype("int64")
    order = np.argsort(ns, kind="stable")
    wk = ns[order]
    q = rows[cols].to_numpy(dtype="float64")[order]
    pz = (
        rows["p_nonzero"].to_numpy(dtype="float64")[order]
        if "p_nonzero" in rows
        else np.full(len(rows), np.nan)
    )
    y = rows["y"].to_numpy(dtype="float64")[order]
    lo_all, hi_all = pit_bounds(np.nan_to_num(y), q, levels)
    known_all = ~np.isnan(y)
    new_q = np.full_like(q, np.nan)
    new_pz = np.full(len(rows), np.nan)
    for t in pd.DatetimeIndex(origins).unique():
        t_ns = int(t.value)
        now = slice(int(np.searchsorted(wk, t_ns, "left")), int(np.searchsorted(wk, t_ns, "right")))
        if now.start == now.stop:
            continue
        if spec.method == "none":
            new_q[now], new_pz[now] = q[now], pz[now]
            continue
        newest = t_ns - (data_lag_weeks + horizon - 1) * _WEEK_NS
        lo = int(np.searchsorted(wk, newest - (spec.window_weeks - 1) * _WEEK_NS, "left"))
        hi = int(np.searchsorted(wk, newest, "right"))
        known = known_all[lo:hi]
        g = level_map(lo_all[lo:hi][known], hi_all[lo:hi][known], spec.prior_rows)
        new_q[now] = quantiles_at(q[now], levels, inverse_levels(g, levels))
        # the recalibrated CDF is G(F): P(y > 0) = 1 - G(F(0)), F(0) = 1 - the raw P(y > 0)
        new_pz[now] = 1.0 - np.interp(1.0 - pz[now], _GRID, g)
    out.loc[rows.index[order], cols] = new_q
    out.loc[rows.index[order], "p_nonzero"] = new_pz
    return out


def recalibrate_count_forecasts(
    forecasts: pd.DataFrame,
    labels: pd.DataFrame,
    models: set[str],
    data_lag_weeks: int,
    spec: CountRecalSpec,
    columns: Sequence[str],
    levels: Sequence[float],
) -> pd.DataFrame:
    """Return ``forecasts`` with the count forecasts of ``models`` recalibrated origin by origin from the
    same model's earlier test forecasts whose outcomes are resolved; the raw quantiles and P(y > 0) are
    kept in ``<column>_raw`` and ``p_nonzero_raw`` (the evidence a publication's map is fitted on)."""
    cols = [*columns, "p_nonzero"]
    if not set(cols) <= set(forecasts.columns):
        return forecasts
    out = forecasts.assign(**{f"{c}_raw": forecasts[c] for c in cols})
    count = out["p_nonzero"].notna() & out["model"].isin(sorted(models))
    if spec.method == "none" or not count.any():
        return out
    y = labels[["region_id", "week", "horizon", "target", "y"]]
    for (_, _, horizon), grp in out[count].groupby(["model", "target", "horizon"], sort=False):
        rows = grp.merge(y, on=["region_id", "week", "horizon", "target"], how="left").set_index(grp.index)
        weeks = pd.DatetimeIndex(grp["week"].unique())
        new = recalibrate_counts(rows, int(horizon), data_lag_weeks, spec, weeks, columns, levels)
        out.loc[grp.index, cols] = new[cols].to_numpy()
    return out
