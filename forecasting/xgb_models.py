"""xgboost models (hist trees, NaN handled natively), feature importances and per-row contributions.

``XGB`` is a binary classifier (logistic loss). ``XGBCount`` fits the mean count with ``count:poisson``
(or ``reg:tweedie``) and uses an NB2 predictive distribution around it; the dispersion is estimated by
moments from in-sample predictions, which slightly understates spread for an overfitted ensemble.

:func:`contributions` returns xgboost's exact TreeSHAP values (``pred_contribs=True``): one column per
feature plus ``bias``, in margin units (log-odds for ``XGB``, log-mean for ``XGBCount``), summing per row
to the model's margin. The report shows each top region's main drivers from them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xgboost as xgb

from forecasting.base import BinaryForecaster, CountForecaster, Forecaster, nb_dispersion

TREE_DEFAULTS: dict[str, Any] = {
    "n_estimators": 200,
    "max_depth": 4,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 5.0,
    "reg_lambda": 1.0,
    "n_jobs": 2,
    "random_state": 0,
}
"""The tree settings both xgboost models share, declared once (their __init__ defaults read them)."""
_D = TREE_DEFAULTS


class _XGBSettings:
    """Shared settings, capabilities and booster access of the xgboost models."""

    _tags: ClassVar[dict[str, object]] = {"capability:importance": True, "capability:contributions": True}

    n_estimators: int
    max_depth: int
    learning_rate: float
    subsample: float
    colsample_bytree: float
    min_child_weight: float
    reg_lambda: float
    n_jobs: int
    random_state: int

    @classmethod
    def get_test_params(cls) -> list[dict[str, object]]:
        """Return cheap settings: 25 trees, one thread."""
        return [{"n_estimators": 25, "n_jobs": 1}]

    def _xgb_kwargs(self) -> dict:
        return {name: getattr(self, name) for name in TREE_DEFAULTS} | {"tree_method": "hist"}

    def feature_importances(self, importance_type: str = "total_gain") -> pd.Series:
        """Return the features' share of the trees' total gain (sums to 1), largest first."""
        return feature_importances(self, importance_type)  # type: ignore[arg-type]

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return per-row TreeSHAP contributions per feature (margin units), without the bias column."""
        return contributions(self, X).drop(columns="bias")  # type: ignore[arg-type]


class XGB(_XGBSettings, BinaryForecaster):
    """Gradient-boosted trees for P(event): xgboost ``binary:logistic``, hist, 200 trees of depth 4."""

    def __init__(
        self,
        n_estimators: int = _D["n_estimators"],
        max_depth: int = _D["max_depth"],
        learning_rate: float = _D["learning_rate"],
        subsample: float = _D["subsample"],
        colsample_bytree: float = _D["colsample_bytree"],
        min_child_weight: float = _D["min_child_weight"],
        reg_lambda: float = _D["reg_lambda"],
        n_jobs: int = _D["n_jobs"],
        random_state: int = _D["random_state"],
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        self.estimator_ = xgb.XGBClassifier(objective="binary:logistic", **self._xgb_kwargs())
        self.estimator_.fit(self._matrix(X), y.astype(int))

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.estimator_.predict_proba(self._matrix(X))[:, 1]


class XGBCount(_XGBSettings, CountForecaster):
    """Gradient-boosted trees for the expected count (``count:poisson`` or ``reg:tweedie``), NB2 around it."""

    def __init__(
        self,
        objective: str = "count:poisson",
        tweedie_variance_power: float = 1.5,
        n_estimators: int = _D["n_estimators"],
        max_depth: int = _D["max_depth"],
        learning_rate: float = _D["learning_rate"],
        subsample: float = _D["subsample"],
        colsample_bytree: float = _D["colsample_bytree"],
        min_child_weight: float = _D["min_child_weight"],
        reg_lambda: float = _D["reg_lambda"],
        n_jobs: int = _D["n_jobs"],
        random_state: int = _D["random_state"],
    ) -> None:
        self.objective = objective
        self.tweedie_variance_power = tweedie_variance_power
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        kwargs = self._xgb_kwargs()
        if self.objective == "reg:tweedie":
            kwargs["tweedie_variance_power"] = self.tweedie_variance_power
        elif self.objective != "count:poisson":
            raise ValueError(
                f"XGBCount: objective must be 'count:poisson' or 'reg:tweedie', got {self.objective!r}"
            )
        self.estimator_ = xgb.XGBRegressor(objective=self.objective, **kwargs)
        x = self._matrix(X)
        self.estimator_.fit(x, y)
        self.dispersion_ = nb_dispersion(y, self.estimator_.predict(x))

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.estimator_.predict(self._matrix(X))


def _fitted_xgb(model: Forecaster, what: str) -> XGB | XGBCount:
    """Return the fitted xgboost model inside ``model`` (itself, or the base of a Calibrated wrapper)."""
    inner = getattr(model, "inner_", model)  # wrappers (Calibrated) expose their fitted base as inner_
    if not isinstance(inner, XGB | XGBCount):
        raise TypeError(
            f"{what} is available for xgboost models (XGB, XGBCount or a wrapper of one); "
            f"got {type(model).__name__}"
        )
    inner._check_is_fitted(what)
    if getattr(inner, "constant_", None) is not None:
        raise ValueError(f"{what}: {type(inner).__name__} was fitted on constant labels and holds no trees")
    return inner


def feature_importances(model: Forecaster, importance_type: str = "total_gain") -> pd.Series:
    """Return the features' share of the trees' total gain (sums to 1), largest first; 0 for unused ones."""
    inner = _fitted_xgb(model, "feature_importances")
    scores = inner.estimator_.get_booster().get_score(importance_type=importance_type)
    names = list(inner.feature_names_in_)
    raw = np.array([scores.get(f"f{i}", 0.0) for i in range(len(names))], dtype="float64")
    total = raw.sum()
    values = raw / total if total > 0 else raw
    return pd.Series(values, index=names, name=importance_type).sort_values(ascending=False, kind="stable")


def contributions(model: Forecaster, X: pd.DataFrame) -> pd.DataFrame:
    """Return per-row TreeSHAP contributions (margin units): a column per feature plus ``bias``, X's index."""
    inner = _fitted_xgb(model, "contributions")
    Xr = inner._prepare(X, "contributions")
    dm = xgb.DMatrix(inner._matrix(Xr), missing=np.nan)
    values = inner.estimator_.get_booster().predict(dm, pred_contribs=True)
    return pd.DataFrame(values, index=X.index, columns=[*inner.feature_names_in_, "bias"])
