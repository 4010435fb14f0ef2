"""Calibration on a time-ordered slice: which weeks each part sees, that it corrects a miscalibrated model,
and its failure modes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from forecasting.base import BinaryForecaster
from forecasting.calibration import Calibrated, CalibrationWarning, time_ordered_split
from forecasting.sk_models import Logistic


class FeatureAsProbability(BinaryForecaster):
    """Returns the feature ``x`` as the probability and records the weeks it was fitted on."""

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        self.fit_weeks_ = pd.DatetimeIndex(X["week"].unique()).sort_values()

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self._matrix(X)[:, 0]


def make_data(n_weeks: int = 40, n_regions: int = 50, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Return X with one feature x in (0, 1) and labels with P(y = 1 | x) = x / 2 (x is overconfident)."""
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2020-01-06", periods=n_weeks, freq="7D")
    n = n_weeks * n_regions
    X = pd.DataFrame(
        {
            "region_id": pd.array([f"R{i}" for i in range(n_regions)] * n_weeks, dtype="string"),
            "week": np.repeat(weeks.to_numpy(), n_regions),
            "iso3": pd.array(["MLI"] * n, dtype="string"),
            "x": rng.uniform(0.02, 0.98, n),
        }
    )
    y = pd.Series((rng.random(n) < X["x"] / 2).astype("float64"), index=X.index)
    return X, y


def test_time_ordered_split_takes_the_latest_weeks() -> None:
    weeks = pd.Series(np.repeat(pd.date_range("2020-01-06", periods=8, freq="7D"), 3))
    mask, first = time_ordered_split(weeks, 0.25)
    assert first == pd.Timestamp("2020-02-17")  # the last 2 of 8 weeks
    np.testing.assert_array_equal(mask, weeks >= first)
    _, first = time_ordered_split(weeks, 0.01)
    assert first == pd.Timestamp("2020-02-24")  # at least one week
    _, first = time_ordered_split(weeks, 0.99)
    assert first == pd.Timestamp("2020-01-13")  # at least one week left for the base model


def test_time_ordered_split_errors() -> None:
    one_week = pd.Series(pd.to_datetime(["2020-01-06"] * 3))
    msg = "time-ordered calibration needs at least 2 distinct training weeks, got 1"
    with pytest.raises(ValueError, match=re.escape(msg)):
        time_ordered_split(one_week, 0.25)
    with pytest.raises(ValueError, match=re.escape("calib_fraction must be in (0, 1), got 1.5")):
        time_ordered_split(one_week, 1.5)


@pytest.mark.parametrize("refit", [True, False])
def test_base_learns_from_earlier_weeks_calibrator_from_the_latest(refit: bool) -> None:
    X, y = make_data(n_weeks=20)
    m = Calibrated(FeatureAsProbability(), calib_fraction=0.25, refit=refit).fit(X, y)
    assert m.calib_start_ == pd.Timestamp("2020-04-20")  # the last 5 of 20 weeks
    assert m.n_calib_ == 5 * 50
    if refit:
        assert m.inner_.fit_weeks_.max() == X["week"].max()  # refitted on all weeks
    else:
        assert m.inner_.fit_weeks_.max() < m.calib_start_  # the calibrator's weeks unseen by the base
        assert len(m.inner_.fit_weeks_) == 15


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibration_corrects_an_overconfident_model(method: str) -> None:
    X, y = make_data(seed=1)
    X_new, y_new = make_data(seed=2)
    raw = FeatureAsProbability().fit(X, y).predict_proba(X_new)
    cal = Calibrated(FeatureAsProbability(), method=method).fit(X, y).predict_proba(X_new)
    truth = X_new["x"].to_numpy() / 2
    assert np.mean((cal - truth) ** 2) < 0.1 * np.mean((raw - truth) ** 2)
    assert np.mean((cal - y_new) ** 2) < np.mean((raw - y_new) ** 2)
    assert cal.min() >= 1e-4 and cal.max() <= 1 - 1e-4


def test_single_class_calibration_slice_warns_and_passes_through() -> None:
    X, y = make_data(n_weeks=8)
    y[X["week"] >= X["week"].max()] = 0.0
    m = Calibrated(FeatureAsProbability(), calib_fraction=0.1)
    msg = "Calibrated: the calibration slice (weeks from 2020-02-24, 50 rows) has only label 0; returning"
    with pytest.warns(CalibrationWarning, match=re.escape(msg)):
        m.fit(X, y)
    assert m.calibrator_ is None
    np.testing.assert_array_equal(m.predict_proba(X), X["x"].to_numpy())


def test_calibrated_errors() -> None:
    X, y = make_data(n_weeks=4)
    with pytest.raises(
        ValueError, match=re.escape("Calibrated: method must be one of ('isotonic', 'sigmoid')")
    ):
        Calibrated(Logistic(), method="beta").fit(X, y)
    from forecasting.baselines import ZeroCount

    msg = "Calibrated: base must be a binary Forecaster, got ZeroCount; e.g. Calibrated(XGB())"
    with pytest.raises(ValueError, match=re.escape(msg)):
        Calibrated(ZeroCount()).fit(X, y)
