"""Per-row contributions decompose the score exactly, for every model that offers them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.catalog import make_model
from forecasting.explain import contributions, has_contributions


def _frame(rng: np.random.Generator, n: int = 600) -> tuple[pd.DataFrame, pd.Series]:
    X = pd.DataFrame(
        {
            "region_id": pd.Series([f"R{i % 20}" for i in range(n)], dtype="string"),
            "week": pd.Timestamp("2019-01-07") + pd.to_timedelta(7 * (np.arange(n) // 20), unit="D"),
            "iso3": pd.Series(["MLI"] * n, dtype="string"),
            "civ_deaths_sum_4w_lag1": rng.poisson(2.0, n).astype("float64"),
            "events_sum_12w_lag1": rng.poisson(5.0, n).astype("float64"),
        }
    )
    X.loc[X.index[::17], "events_sum_12w_lag1"] = np.nan  # exercise the missing-value indicator
    logit = 0.8 * X["civ_deaths_sum_4w_lag1"] - 2.0
    y = pd.Series((rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(float), index=X.index)
    return X, y


def test_logistic_contributions_add_up_to_the_log_odds(rng: np.random.Generator) -> None:
    X, y = _frame(rng)
    model = make_model("logistic", "civ_any", 4).fit(X, y)
    contrib = contributions(model, X)
    assert list(contrib.columns) == ["civ_deaths_sum_4w_lag1", "events_sum_12w_lag1"]
    p = model.predict_proba(X)
    intercept = model.pipeline_[-1].intercept_[0]
    np.testing.assert_allclose(contrib.sum(axis=1) + intercept, np.log(p / (1 - p)), atol=1e-8)
    # the feature that drives the labels drives the score
    assert contrib.abs().mean().idxmax() == "civ_deaths_sum_4w_lag1"


def test_xgb_contributions_are_offered_and_baselines_are_not(rng: np.random.Generator) -> None:
    X, y = _frame(rng)
    xgb = make_model("xgb", "civ_any", 4, seed=1).fit(X, y)
    assert has_contributions(xgb)
    assert contributions(xgb, X).shape == (len(X), 2)
    clim = make_model("climatology", "civ_any", 4).fit(X, y)
    assert not has_contributions(clim)
    with pytest.raises(TypeError, match="declares no per-row attribution"):
        contributions(clim, X)
