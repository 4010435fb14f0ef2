"""Recalibration that follows level shifts: at each origin, a small map from a model's raw probability to a
calibrated one, fitted only on that model's earlier forecasts whose outcomes are resolved at the origin.

The resolution rule (docs/BACKTEST.md): the label of origin ``s`` at horizon ``h`` covers weeks
``s .. s+h-1``; at origin ``t`` with data lag ``k`` it is known iff ``s <= t - k - h + 1``.

The map (Kull et al. 2017, beta calibration) works on the logit: ``logit q = c + a ln p - b ln(1 - p)``,
fitted by penalised maximum likelihood with a ridge ``lam/2 |theta - identity|^2`` (``lam`` in rows), on
the forecasts of the last ``window_weeks`` resolved origins. ``platt`` (``a + b logit p``) and ``offset``
(``logit p + a``) are the smaller maps of the same family; ``none`` switches recalibration off.

The defaults were chosen on a backtest, not by hand (research for issue 10, origins 2016-07 .. 2019-06 of
a yearly-refit Sahel backtest, worst case over models, horizons and model-years): beta, 104 weeks,
``lam = 1000``. With that much shrinkage the map stays near the identity unless a bias persists for months:
a guard rail against a level shift, not a fix. On the later check windows (2019-07 .. 2021-06, Sahel
2017-2020 and the Mali forward year) it changed Brier by -1.1% to +0.2%, and it cut the logistic model's
worst quarterly bias on the Mali forward year from 0.061 to 0.050 at h = 4 (docs/BACKTEST.md).

The same function serves the backtest (history = the run's earlier test forecasts) and the publication
(history = the model's backtest forecasts and its own forecasts since its data end), so both apply the
same map to the same kind of evidence.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

EPS = 1e-4
_WEEK_NS = 7 * 24 * 3600 * 10**9


class RecalSpec(BaseModel):
    """How a model's raw probabilities are recalibrated at each origin (the ``[recalibration]`` section of
    an experiment config; it travels with the trained bundle)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    method: Literal["none", "offset", "platt", "beta"] = "beta"
    """Map from raw to calibrated probability: beta (3 parameters), platt (2), offset (1) or none."""
    window_weeks: int = Field(104, ge=1)
    """Resolved origins the map is fitted on: the last this many weeks of them."""
    lam: float = Field(1000.0, ge=0)
    """Ridge strength toward the identity map, in rows: large keeps the map near no change."""


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def _design(p: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (X, offset, identity): logit q = offset + X @ theta; theta = identity maps p to itself."""
    n = len(p)
    if method == "offset":
        return np.ones((n, 1)), _logit(p), np.array([0.0])
    if method == "platt":
        return np.column_stack([np.ones(n), _logit(p)]), np.zeros(n), np.array([0.0, 1.0])
    pc = np.clip(p, EPS, 1 - EPS)
    return np.column_stack([np.ones(n), np.log(pc), -np.log1p(-pc)]), np.zeros(n), np.array([0.0, 1.0, 1.0])


def fit_map(p: np.ndarray, y: np.ndarray, spec: RecalSpec, iters: int = 25) -> np.ndarray:
    """Return the map's parameters fitted on raw probabilities ``p`` and 0/1 outcomes ``y`` (Newton)."""
    X, off, theta0 = _design(np.asarray(p, float), spec.method)
    theta, y = theta0.copy(), np.asarray(y, float)
    eye = np.eye(len(theta0))
    for _ in range(iters):
        mu = 1 / (1 + np.exp(-np.clip(off + X @ theta, -30, 30)))
        grad = X.T @ (mu - y) + spec.lam * (theta - theta0)
        hess = (X * (mu * (1 - mu))[:, None]).T @ X + spec.lam * eye
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-9:
            break
    return theta


def apply_map(p: np.ndarray, spec: RecalSpec, theta: np.ndarray) -> np.ndarray:
    """Return calibrated probabilities for raw ``p`` under fitted parameters ``theta``."""
    X, off, _ = _design(np.asarray(p, float), spec.method)
    return np.clip(1 / (1 + np.exp(-np.clip(off + X @ theta, -30, 30))), EPS, 1 - EPS)


def recalibrate(
    rows: pd.DataFrame, horizon: int, data_lag_weeks: int, spec: RecalSpec, origins: pd.DatetimeIndex
) -> pd.Series:
    """Return recalibrated probabilities of the rows whose week is in ``origins`` (NaN for other rows).

    ``rows`` are one model's forecasts of one binary target at ``horizon``: columns ``week``, ``p`` (raw)
    and ``y`` (the outcome, NaN when unknown). The map of origin ``t`` is fitted on rows with
    ``week <= t - k - h + 1`` inside the last ``window_weeks`` such weeks and a known ``y``: outcomes not
    yet resolved at ``t`` are never read (tests/test_recalibration.py flips them to prove it).
    """
    if spec.method == "none":
        return rows["p"].where(rows["week"].isin(origins)).astype("float64")
    ns = rows["week"].to_numpy("datetime64[ns]").astype("int64")  # integer nanoseconds: plain arithmetic
    order = np.argsort(ns, kind="stable")
    wk = ns[order]
    p = rows["p"].to_numpy(float)[order]
    y = rows["y"].to_numpy(float)[order]
    out = np.full(len(rows), np.nan)
    for t in pd.DatetimeIndex(origins).unique():
        t_ns = int(t.value)
        now = slice(int(np.searchsorted(wk, t_ns, "left")), int(np.searchsorted(wk, t_ns, "right")))
        if now.start == now.stop:
            continue
        newest = t_ns - (data_lag_weeks + horizon - 1) * _WEEK_NS
        lo = int(np.searchsorted(wk, newest - (spec.window_weeks - 1) * _WEEK_NS, "left"))
        hi = int(np.searchsorted(wk, newest, "right"))
        known = ~np.isnan(y[lo:hi])
        if known.any():
            theta = fit_map(p[lo:hi][known], y[lo:hi][known], spec)
            out[now] = apply_map(p[now], spec, theta)
        else:
            out[now] = p[now]
    result = np.full(len(rows), np.nan)
    result[order] = out
    return pd.Series(result, index=rows.index, name="p")


def in_the_large_z(p: np.ndarray, y: np.ndarray, inflation: float = 1.0) -> float:
    """Return calibration-in-the-large as a z score, sum(y - p) / SE, the variance inflated for dependent
    rows (overlapping h-week windows: ``inflation = h``); 0 when the variance is 0."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    var = float(np.sum(p * (1 - p))) * inflation
    return float(np.sum(y - p) / np.sqrt(var)) if var > 0 else 0.0
