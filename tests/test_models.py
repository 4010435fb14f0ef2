"""One shared set of checks run against every model in the catalog (scikit-learn's parametrize_with_checks
idea), then model-specific behaviour: baselines by hand, distributions, importances and contributions."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from civrisk.contracts import ContractError
from forecasting.base import (
    DegenerateTargetWarning,
    Forecaster,
    NotFittedError,
    nb_dispersion,
    nb_exceed,
    nb_quantiles,
    nested_models,
    predict_p,
)
from forecasting.catalog import MODEL_CATALOG, make_model, model_names, supports
from tests.model_data import make_model_data

H = 4
CASES = [
    (name, target) for name in model_names() for target in ("civ_any", "civ_deaths") if supports(name, target)
]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    return make_model_data(horizon=H)


def _y(data: tuple, model: Forecaster) -> pd.Series:
    return data[1] if model.kind == "binary" else data[2]


def _new(name: str, target: str) -> Forecaster:
    """Return the catalog model with every nested model's cheap test settings (``get_test_params``): few
    trees and one thread; the checks are about behaviour, which does not depend on either."""
    model = make_model(name, target, H, data_lag_weeks=1, seed=3)
    for m in nested_models(model):
        m.set_params(**type(m).get_test_params()[0])
    return model


_FITTED: dict[tuple[str, str], Forecaster] = {}


def _fitted(name: str, target: str, data: tuple) -> Forecaster:
    """Return a fitted model, fitted once per module (the read-only checks share it)."""
    if (name, target) not in _FITTED:
        model = _new(name, target)
        _FITTED[(name, target)] = model.fit(data[0], _y(data, model))
    return _FITTED[(name, target)]


def _predict_all(model: Forecaster, X: pd.DataFrame) -> list[np.ndarray]:
    if model.kind == "binary":
        return [model.predict_proba(X)]
    return [model.predict(X), model.predict_quantiles(X), model.predict_proba_exceed(X, 0)]


# ----------------------------------------------------------------------------------------------
# Shared checks: each takes (name, target, data)
# ----------------------------------------------------------------------------------------------


def check_init_stores_settings_only(name: str, target: str, data: tuple) -> None:
    model = _new(name, target)
    params = model.get_params(deep=False)
    assert set(vars(model)) == set(params), "__init__ must store its arguments and nothing else"
    assert not [k for k in vars(model) if k.endswith("_")]
    again = clone(model)
    assert again.get_params(deep=False).keys() == params.keys()
    assert type(model).__name__ in repr(model)


def check_unfitted_error(name: str, target: str, data: tuple) -> None:
    model = _new(name, target)
    method = "predict_proba" if model.kind == "binary" else "predict"
    msg = f"This {type(model).__name__} instance is not fitted yet; call fit(X, y) before {method}()."
    with pytest.raises(NotFittedError, match=re.escape(msg)):
        getattr(model, method)(data[0])


def check_fit_returns_self_and_learned_state_ends_in_underscore(name: str, target: str, data: tuple) -> None:
    model = _new(name, target)
    before = set(vars(model))
    assert model.fit(data[0], _y(data, model)) is model
    added = set(vars(model)) - before
    assert added and all(k.endswith("_") for k in added), f"fit added {sorted(added)}"
    assert list(model.feature_names_in_) == [c for c in model.feature_names_in_ if c in data[0].columns]


def check_predictions_are_valid(name: str, target: str, data: tuple) -> None:
    model = _fitted(name, target, data)
    X = data[0]
    if model.kind == "binary":
        p = model.predict_proba(X)
        assert p.shape == (len(X),) and p.dtype == np.float64
        assert np.all((p >= 0) & (p <= 1))
    else:
        mu = model.predict(X)
        assert mu.shape == (len(X),) and np.all(mu >= 0) and np.isfinite(mu).all()
        q = model.predict_quantiles(X, qs=(0.1, 0.5, 0.9))
        assert q.shape == (len(X), 3) and np.all(np.diff(q, axis=1) >= 0) and np.all(q >= 0)
        p0 = model.predict_proba_exceed(X, 0)
        p10 = model.predict_proba_exceed(X, 10)
        assert np.all((p0 >= 0) & (p0 <= 1)) and np.all(p10 <= p0 + 1e-12)
    np.testing.assert_array_equal(predict_p(model, X), _predict_all(model, X)[0])


def check_deterministic_given_seed(name: str, target: str, data: tuple) -> None:
    X, y = data[0], _y(data, _new(name, target))
    a = _predict_all(_new(name, target).fit(X, y), X)
    b = _predict_all(_new(name, target).fit(X, y), X)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


def check_row_and_column_order_and_extra_columns(name: str, target: str, data: tuple) -> None:
    model = _fitted(name, target, data)
    X = data[0]
    expected = _predict_all(model, X)
    perm = np.random.default_rng(0).permutation(len(X))
    cols = list(X.columns[::-1])
    shuffled = X.iloc[perm][cols].assign(unrelated_extra=1.0)
    for want, got in zip(expected, _predict_all(model, shuffled), strict=True):
        np.testing.assert_allclose(got, want[perm], rtol=1e-12, atol=1e-12)


def check_missing_feature_named(name: str, target: str, data: tuple) -> None:
    model = _fitted(name, target, data)
    if not len(model.feature_names_in_):
        pytest.skip(f"{name} uses no feature columns")
    dropped = model.feature_names_in_[0]
    method = "predict_proba" if model.kind == "binary" else "predict"
    msg = f"{type(model).__name__}.{method}: X lacks 1 feature columns seen in fit: ['{dropped}']"
    with pytest.raises(ValueError, match=re.escape(msg)):
        getattr(model, method)(data[0].drop(columns=[dropped]))


def check_fit_rejects_nan_and_misaligned_labels(name: str, target: str, data: tuple) -> None:
    model = _new(name, target)
    X, y = data[0], _y(data, model).copy()
    y.iloc[[3, 7]] = np.nan
    msg = f"{type(model).__name__}.fit: y holds 2 NaN labels of {len(y)}; NaN means the label window"
    with pytest.raises(ValueError, match=re.escape(msg)):
        model.fit(X, y)
    shifted = _y(data, model).set_axis(X.index + 1)
    msg = f"{type(model).__name__}.fit: y (length {len(X)}) is not aligned with X (length {len(X)})"
    with pytest.raises(ValueError, match=re.escape(msg)):
        model.fit(X, shifted)


def check_fit_rejects_non_feature_frames(name: str, target: str, data: tuple) -> None:
    model = _new(name, target)
    X, y = data[0], _y(data, model)
    with pytest.raises(ContractError, match=re.escape("missing columns ['region_id']")):
        model.fit(X.drop(columns=["region_id"]), y)
    with pytest.raises(ValueError, match=re.escape("hold +/-inf")):
        model.fit(X.assign(civ_deaths_sum_4w_lag1=np.inf), y)


def check_fit_does_not_mutate_inputs(name: str, target: str, data: tuple) -> None:
    model = _new(name, target)
    X, y = data[0].copy(), _y(data, model).copy()
    model.fit(X, y)
    _predict_all(model, X)
    pd.testing.assert_frame_equal(X, data[0])
    pd.testing.assert_series_equal(y, _y(data, model))


def check_constant_labels(name: str, target: str, data: tuple) -> None:
    model = _new(name, target)
    X = data[0]
    y = pd.Series(0.0, index=X.index)
    with pytest.warns(
        DegenerateTargetWarning, match=re.escape("training labels equal 0; the model predicts")
    ):
        model.fit(X, y)
    for values in _predict_all(model, X):
        assert np.all(values == 0)


def check_one_row_and_empty_predict(name: str, target: str, data: tuple) -> None:
    model = _fitted(name, target, data)
    X = data[0]
    for values in _predict_all(model, X.iloc[:1]):
        assert len(values) == 1
    for values in _predict_all(model, X.iloc[:0]):
        assert len(values) == 0


CHECKS: list[Callable[[str, str, tuple], None]] = [
    check_init_stores_settings_only,
    check_unfitted_error,
    check_fit_returns_self_and_learned_state_ends_in_underscore,
    check_predictions_are_valid,
    check_deterministic_given_seed,
    check_row_and_column_order_and_extra_columns,
    check_missing_feature_named,
    check_fit_rejects_nan_and_misaligned_labels,
    check_fit_rejects_non_feature_frames,
    check_fit_does_not_mutate_inputs,
    check_constant_labels,
    check_one_row_and_empty_predict,
]


@pytest.mark.parametrize(
    ("name", "target", "check"),
    [(n, t, c) for n, t in CASES for c in CHECKS],
    ids=[f"{n}-{t}-{c.__name__.removeprefix('check_')}" for n, t in CASES for c in CHECKS],
)
def test_catalog_model(name: str, target: str, check: Callable, data: tuple) -> None:
    check(name, target, data)


# ----------------------------------------------------------------------------------------------
# Catalog
# ----------------------------------------------------------------------------------------------


def test_catalog_names_and_aliases() -> None:
    expected = {"zero", "climatology", "persistence", "conflictology", "glm_logit", "glm_negbin", "logistic"}
    expected |= {"hgb", "xgb", "xgb_count", "calibrated_xgb", "ensemble"}
    assert expected <= set(MODEL_CATALOG)
    assert type(make_model("xgboost", "civ_any", 4)) is type(make_model("xgb", "civ_any", 4))
    assert type(make_model("negbin", "civ_deaths", 4)) is type(make_model("glm_negbin", "civ_deaths", 4))


def test_make_model_fills_persistence_window_and_seed() -> None:
    m = make_model("persistence", "civ_any_militia", 12, data_lag_weeks=5)
    assert m.get_params() == {
        "window_feature": "civ_deaths_militia_sum_12w_lag5",
        "threshold": 1.0,
        "smoothing": 0.0,
    }
    assert make_model("persistence", "civ_mass", 1, data_lag_weeks=1).threshold == 10.0
    ens = make_model("ensemble", "civ_any", 4, seed=99)
    assert [m.random_state for m in ens.members if "random_state" in m.get_params()] == [99]
    cal = make_model("calibrated_xgb", "civ_any", 4, seed=5, base__n_estimators=10)
    assert cal.get_params()["base__random_state"] == 5 and cal.method == "sigmoid"


def test_make_model_errors() -> None:
    msg = "model 'xgb' cannot forecast 'civ_deaths' (count target); models for count targets: "
    with pytest.raises(ValueError, match=re.escape(msg)):
        make_model("xgb", "civ_deaths", 4)
    with pytest.raises(ValueError, match=re.escape("unknown model 'magic'; expected one of")):
        make_model("magic", "civ_any", 4)
    with pytest.raises(ValueError, match=re.escape("unknown target 'civ_fun'")):
        make_model("zero", "civ_fun", 4)


# ----------------------------------------------------------------------------------------------
# Baselines by hand
# ----------------------------------------------------------------------------------------------


def _frame(regions: list[str], weeks: list[str], **features: list[float]) -> pd.DataFrame:
    X = pd.DataFrame(
        {
            "region_id": pd.array(regions, dtype="string"),
            "week": pd.to_datetime(weeks),
            "iso3": pd.array(["MLI"] * len(regions), dtype="string"),
        }
    )
    for k, v in features.items():
        X[k] = np.asarray(v, dtype="float64")
    return X


W = ["2020-01-06", "2020-01-13", "2020-01-20", "2020-01-27"]


def test_climatology_smoothed_region_rate_and_unseen_region() -> None:
    X = _frame(["a"] * 4 + ["b"] * 4, W * 2)
    y = pd.Series([1, 1, 0, 1, 0, 0, 0, 0], dtype=float)
    m = make_model("climatology", "civ_any", 1).fit(X, y)
    g = 3 / 8
    new = _frame(["a", "b", "zz"], W[:3])
    np.testing.assert_allclose(m.predict_proba(new), [(3 + g) / 5, g / 5, g])


def test_persistence_hits_threshold_smoothing_and_nan_fallback() -> None:
    X = _frame(["a"] * 4, W, civ_deaths_sum_4w_lag1=[0, 2, np.nan, 1])
    y = pd.Series([1, 0, 0, 1], dtype=float)
    m = make_model("persistence", "civ_any", 4, data_lag_weeks=1).fit(X, y)
    np.testing.assert_array_equal(m.predict_proba(X), [0, 1, 0.5, 1])
    m = make_model("persistence", "civ_any", 4, data_lag_weeks=1, threshold=2, smoothing=0.1).fit(X, y)
    np.testing.assert_allclose(m.predict_proba(X), [0.1, 0.9, 0.5, 0.1])


def test_persistence_names_the_missing_window_feature() -> None:
    X = _frame(["a"] * 4, W, civ_deaths_sum_1w_lag1=[0, 2, 0, 1])
    msg = "Persistence: window_feature 'civ_deaths_sum_4w_lag1' is not a column of X; columns starting with "
    with pytest.raises(ValueError, match=re.escape(msg + "'civ_deaths': ['civ_deaths_sum_1w_lag1']")):
        make_model("persistence", "civ_any", 4, data_lag_weeks=1).fit(X, pd.Series([0, 1, 0, 1.0]))


def test_conflictology_uses_only_the_last_window_weeks() -> None:
    weeks = pd.date_range("2020-01-06", periods=10, freq="7D").strftime("%Y-%m-%d").tolist()
    X = _frame(["a"] * 10, weeks)
    y = pd.Series([1.0] * 7 + [0, 1, 0])  # old weeks all events; the last 3 weeks: 1 of 3
    m = make_model("conflictology", "civ_any", 1, window_weeks=3, smoothing=0.0).fit(X, y)
    np.testing.assert_allclose(m.predict_proba(X.iloc[:1]), [1 / 3])
    c = make_model("conflictology", "civ_deaths", 1, window_weeks=4, min_samples=1).fit(
        X, pd.Series([50.0] * 6 + [0, 2, 4, 10])
    )
    np.testing.assert_allclose(c.predict(X.iloc[:1]), [4.0])
    np.testing.assert_array_equal(c.predict_quantiles(X.iloc[:1], (0.25, 0.5, 0.9)), [[0, 2, 10]])
    np.testing.assert_allclose(c.predict_proba_exceed(X.iloc[:1], 3), [0.5])


def test_zero_is_exactly_zero() -> None:
    X = _frame(["a", "b"], W[:2])
    m = make_model("zero", "civ_any", 1).fit(X, pd.Series([0.0, 1.0]))
    np.testing.assert_array_equal(m.predict_proba(X), [0.0, 0.0])


# ----------------------------------------------------------------------------------------------
# Distributions, GLM, xgboost extras
# ----------------------------------------------------------------------------------------------


def test_nb_distribution_helpers() -> None:
    mu = np.array([0.0, 2.0, 2.0])
    q = nb_quantiles(mu, 0.0, np.array([0.5]))
    np.testing.assert_array_equal(q[:, 0], [0, 2, 2])
    wide = nb_quantiles(mu, 2.0, np.array([0.1, 0.9]))
    assert wide[1, 1] > nb_quantiles(mu, 0.0, np.array([0.9]))[1, 0]  # overdispersed: fatter right tail
    np.testing.assert_allclose(nb_exceed(np.array([0.0, 2.0]), 0.0, 0), [0.0, 1 - np.exp(-2.0)])
    rng = np.random.default_rng(0)
    y = rng.negative_binomial(1 / 0.5, 1 / (1 + 0.5 * 3.0), 200_000)
    assert nb_dispersion(y, np.full(len(y), 3.0)) == pytest.approx(0.5, rel=0.05)
    assert nb_dispersion(rng.poisson(3.0, 100_000), np.full(100_000, 3.0)) < 0.01


def test_glm_logit_recovers_signal_direction(data: tuple) -> None:
    m = make_model("glm_logit", "civ_any", H).fit(data[0], data[1])
    assert m.coef_["civ_deaths_sum_4w_lag1"] > 0
    hi = m.predict_proba(data[0])[data[0]["civ_deaths_sum_4w_lag1"] > 5].mean()
    lo = m.predict_proba(data[0])[data[0]["civ_deaths_sum_4w_lag1"] == 0].mean()
    assert hi > lo


def test_count_models_mean_is_calibrated_in_sample(data: tuple) -> None:
    for name in ("glm_negbin", "xgb_count", "climatology"):
        m = _new(name, "civ_deaths").fit(data[0], data[2])
        assert m.predict(data[0]).mean() == pytest.approx(data[2].mean(), rel=0.1), name


def test_xgb_importances_and_contributions(data: tuple) -> None:
    from forecasting.xgb_models import contributions, feature_importances

    X, y = data[0], data[1]
    m = make_model("xgb", "civ_any", H, n_estimators=30, n_jobs=1).fit(X, y)
    imp = feature_importances(m)
    assert imp.sum() == pytest.approx(1.0) and set(imp.index) == set(m.feature_names_in_)
    contrib = contributions(m, X.iloc[:50])
    assert list(contrib.columns) == [*m.feature_names_in_, "bias"]
    margin = np.log(m.predict_proba(X.iloc[:50]) / (1 - m.predict_proba(X.iloc[:50])))
    np.testing.assert_allclose(contrib.sum(axis=1), margin, rtol=1e-4, atol=1e-4)
    cal = make_model("calibrated_xgb", "civ_any", H, base__n_estimators=30, base__n_jobs=1).fit(X, y)
    assert contributions(cal, X.iloc[:5]).shape == (5, len(m.feature_names_in_) + 1)
    with pytest.raises(TypeError, match=re.escape("got Logistic")):
        feature_importances(make_model("logistic", "civ_any", H).fit(X, y))


def test_no_blanket_warning_from_fit(data: tuple) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_model("logistic", "civ_any", H).fit(data[0], data[1])
        make_model("glm_negbin", "civ_deaths", H).fit(data[0], data[2])


def test_logistic_and_glm_logit_solve_the_same_problem(data: tuple) -> None:
    # same per-observation penalty, same preprocessing: two solvers, one optimum
    a = make_model("logistic", "civ_any", H, alpha=0.05).fit(data[0], data[1]).predict_proba(data[0])
    b = make_model("glm_logit", "civ_any", H, alpha=0.05).fit(data[0], data[1]).predict_proba(data[0])
    np.testing.assert_allclose(a, b, atol=2e-3)


def test_linear_preprocessor_clips_to_training_range() -> None:
    from forecasting.sk_models import linear_preprocessor

    x = np.array([[0.0], [1.0], [3.0], [np.nan]])
    pre = linear_preprocessor(log1p=False).fit(x)
    z = pre.transform(np.array([[100.0], [-5.0]]))
    z_train = pre.transform(x)
    assert z[0, 0] == z_train[:, 0].max() and z[1, 0] == z_train[:, 0].min()
    assert list(pre.get_feature_names_out(["x"])) == ["x", "missingindicator_x"]


def test_glm_negbin_mean_fit_options(data: tuple) -> None:
    nb = make_model("glm_negbin", "civ_deaths", H, mean_fit="negbin").fit(data[0], data[2])
    assert nb.dispersion_ > 0 and np.isfinite(nb.predict(data[0])).all()
    with pytest.raises(
        ValueError, match=re.escape("GLMNegBin: mean_fit must be 'poisson' or 'negbin', got 'ols'")
    ):
        make_model("glm_negbin", "civ_deaths", H, mean_fit="ols").fit(data[0], data[2])


def test_capabilities_are_declared_tags() -> None:
    """Code asks a model's tags (sktime style), never its class; wrappers answer with their inner model."""
    xgb, logistic, clim = (
        make_model(n, "civ_any", H, data_lag_weeks=1) for n in ("xgb", "logistic", "climatology")
    )
    assert xgb.get_tag("capability:importance") and xgb.get_tag("capability:contributions")
    assert logistic.get_tag("capability:contributions") and not logistic.get_tag("capability:importance")
    assert not clim.get_tag("capability:contributions") and not clim.get_tag("capability:intervals")
    assert make_model("xgb_count", "civ_deaths", H, data_lag_weeks=1).get_tag("capability:intervals")
    wrapped = make_model("calibrated_xgb", "civ_any", H, data_lag_weeks=1)
    assert wrapped.get_tag("wrapper") and not wrapped.get_tag("capability:importance")  # not fitted yet
    with pytest.raises(ValueError, match=re.escape("unknown tag 'capability:magic'")):
        xgb.get_tag("capability:magic")


def test_every_model_declares_cheap_test_params_that_it_accepts() -> None:
    for name in model_names():
        target = "civ_any" if supports(name, "civ_any") else "civ_deaths"
        for m in nested_models(make_model(name, target, H, data_lag_weeks=1)):
            for params in type(m).get_test_params():
                m.set_params(**params)  # raises on a setting the model does not have
