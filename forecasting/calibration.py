"""Probability calibration on a time-ordered slice: the base model learns from earlier weeks, the
calibrator from the latest ``calib_fraction`` of the training weeks (never a random split: on a panel that
would let the calibrator see weeks interleaved with the base model's training weeks).

``Calibrated(base, method="isotonic" | "sigmoid", calib_fraction=0.25, refit=True)``:

1. Sort the distinct training origin weeks; the last ``ceil(calib_fraction * n_weeks)`` weeks form the
   calibration slice (at least one week, and at least one week stays for the base model).
2. Fit a clone of ``base`` on the earlier weeks; predict the calibration slice; fit the calibrator
   (isotonic regression, or Platt scaling on the logit of p) on those predictions.
3. ``refit=True``: fit another clone of ``base`` on all training weeks (the most recent weeks matter most
   in a conflict panel) and apply the calibrator to its predictions. The calibrator then corrects a model
   trained on slightly more data than the one it was fitted on: the usual trade-off, accepted for recency.

Output probabilities are clipped to ``[eps, 1 - eps]``: isotonic regression returns exact 0 or 1 on the
ends of its range, which would make one surprising event cost an infinite log loss.

If the calibration slice holds a single class, there is nothing to calibrate against: the model warns
(:class:`CalibrationWarning`), sets ``calibrator_ = None`` and returns the base model's probabilities.
"""

from __future__ import annotations

import math
import warnings
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy.special import logit
from sklearn.base import clone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from forecasting.base import BinaryForecaster

METHODS = ("isotonic", "sigmoid")


class CalibrationWarning(UserWarning):
    """Calibration was skipped (e.g. the calibration slice has a single class)."""


def time_ordered_split(weeks: pd.Series, calib_fraction: float) -> tuple[np.ndarray, pd.Timestamp]:
    """Return (mask of rows in the calibration slice, first calibration week) for a column of weeks."""
    if not 0 < calib_fraction < 1:
        raise ValueError(f"calib_fraction must be in (0, 1), got {calib_fraction}")
    distinct = pd.DatetimeIndex(weeks.unique()).sort_values()
    if len(distinct) < 2:
        raise ValueError(
            f"time-ordered calibration needs at least 2 distinct training weeks, got {len(distinct)}; "
            "use an uncalibrated model or a longer training window"
        )
    n_calib = min(max(math.ceil(calib_fraction * len(distinct)), 1), len(distinct) - 1)
    first = distinct[len(distinct) - n_calib]
    return np.asarray(weeks >= first), first


def fit_calibrator(p: np.ndarray, y: np.ndarray, method: str) -> IsotonicRegression | LogisticRegression:
    """Return a calibrator fitted on probabilities ``p`` and binary labels ``y``."""
    if method == "isotonic":
        return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
    if method == "sigmoid":
        # Platt scaling on the logit: a near-unpenalised 1-d logistic regression
        return LogisticRegression(C=1e6, max_iter=1000).fit(_logit(p), y.astype(int))
    raise ValueError(f"calibration method must be one of {METHODS}, got {method!r}")


def apply_calibrator(calibrator: IsotonicRegression | LogisticRegression, p: np.ndarray) -> np.ndarray:
    """Return calibrated probabilities for raw probabilities ``p``."""
    if isinstance(calibrator, IsotonicRegression):
        return calibrator.predict(p)
    return calibrator.predict_proba(_logit(p))[:, 1]


def _logit(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(p, 1e-6, 1 - 1e-6)).reshape(-1, 1)


class Calibrated(BinaryForecaster):
    """A binary model whose probabilities are recalibrated on the latest training weeks."""

    _tags: ClassVar[dict[str, object]] = {"wrapper": True}

    def __init__(
        self,
        base: BinaryForecaster | None = None,
        method: str = "isotonic",
        calib_fraction: float = 0.25,
        refit: bool = True,
        eps: float = 1e-4,
    ) -> None:
        self.base = base
        self.method = method
        self.calib_fraction = calib_fraction
        self.refit = refit
        self.eps = eps

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        if self.base is None or getattr(self.base, "kind", None) != "binary":
            raise ValueError(
                f"Calibrated: base must be a binary Forecaster, got {type(self.base).__name__}; "
                "e.g. Calibrated(XGB())"
            )
        if self.method not in METHODS:
            raise ValueError(f"Calibrated: method must be one of {METHODS}, got {self.method!r}")
        in_calib, self.calib_start_ = time_ordered_split(X["week"], self.calib_fraction)
        early = clone(self.base).fit(X[~in_calib], _series(y[~in_calib], X.index[~in_calib]))
        p_calib = early.predict_proba(X[in_calib])
        y_calib = y[in_calib]
        self.n_calib_ = int(in_calib.sum())
        if np.unique(y_calib).size < 2:
            warnings.warn(
                f"Calibrated: the calibration slice (weeks from {self.calib_start_.date()}, "
                f"{self.n_calib_} rows) has only label {y_calib[0]:g}; returning the base model's "
                "probabilities uncalibrated",
                CalibrationWarning,
                stacklevel=3,
            )
            self.calibrator_ = None
        else:
            self.calibrator_ = fit_calibrator(p_calib, y_calib, self.method)
        self.inner_ = clone(self.base).fit(X, _series(y, X.index)) if self.refit else early

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.inner_.predict_proba(X)
        if self.calibrator_ is None:
            return p
        return np.clip(apply_calibrator(self.calibrator_, p), self.eps, 1 - self.eps)


def _series(y: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(y, index=index)
