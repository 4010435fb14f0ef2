"""scikit-learn models: regularised logistic regression and histogram gradient boosting.

Linear models (here and in ``forecasting.glm``) share :func:`linear_preprocessor`: a signed ``log1p`` (death
and event counts are heavy-tailed; the transform is monotone, so trees would not need it), median
imputation with a missing-value indicator per feature that had NaN in training (NaN means "not observed",
e.g. outside coverage or never happened, which is information), standardisation, and clipping to the
training range (no extrapolation under distribution shift).

Gradient boosting handles NaN natively and runs ``n_threads`` OpenMP threads (HistGradientBoosting has no
``n_jobs``; on a busy 2-core machine more threads than cores makes it many times slower). Its built-in
early stopping draws a *random* validation split, which on a panel leaks the future into model selection,
so it is off: ``max_iter`` is the fixed budget.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from forecasting.base import BinaryForecaster, CountForecaster, nb_dispersion


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


class ClipToTrainingRange(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Clip each column to the [min, max] it had in fit, so a linear model never extrapolates past its data.

    Conflict data shift: in a 2019 Sahel test year standardised features reached 34 SD beyond the 2012-2018
    training range, and a log-link count model turned that into predicted means 10x the largest count.
    """

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> ClipToTrainingRange:
        """Learn the per-column range."""
        X = np.asarray(X, dtype="float64")
        self.min_, self.max_ = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Return X clipped to the training range."""
        return np.clip(np.asarray(X, dtype="float64"), self.min_, self.max_)


def linear_preprocessor(log1p: bool = True) -> Pipeline:
    """Return an unfitted pipeline: signed log1p (optional) -> median impute + indicators -> standardise
    -> clip to the training range."""
    steps: list = []
    if log1p:
        steps.append(FunctionTransformer(_signed_log1p, feature_names_out="one-to-one"))
    steps += [
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        ClipToTrainingRange(),
    ]
    return make_pipeline(*steps)


class Logistic(BinaryForecaster):
    """L2-regularised logistic regression (lbfgs) on log1p-transformed, imputed, standardised features.

    The penalty is given per observation, like :class:`forecasting.glm.GLMLogit`'s: ``alpha`` minimises
    ``mean log loss + alpha * |w|^2 / 2``, i.e. scikit-learn's ``C = 1 / (alpha * n_train)``, so one
    setting means the same for a 3k- or a 30k-row training frame. Default 0.1: on the 2016 Sahel admin-1
    year (trained on 2012-2015, before the shipped configs' test years) Brier and AUC improved steadily
    from alpha = 0.001 to 0.1 and were flat up to 1 for civ_any, civ_mass and civ_any_state_allied.
    """

    _tags: ClassVar[dict[str, object]] = {"capability:contributions": True}

    def __init__(self, alpha: float = 0.1, max_iter: int = 300, log1p: bool = True):
        self.alpha = alpha
        self.max_iter = max_iter
        self.log1p = log1p

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        if not self.alpha > 0:
            raise ValueError(f"Logistic: alpha must be > 0 (per-observation L2 penalty), got {self.alpha}")
        self.C_ = 1.0 / (self.alpha * len(y))
        self.pipeline_ = make_pipeline(
            linear_preprocessor(self.log1p), LogisticRegression(C=self.C_, max_iter=self.max_iter)
        )
        with one_blas_thread():
            self.pipeline_.fit(self._matrix(X), y.astype(int))

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict_proba(self._matrix(X))[:, 1]

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return coefficient x transformed feature per row (log-odds relative to a region at the training
        mean: the exact decomposition of the linear score); a missing-value indicator's term is added to
        its feature's."""
        self._check_is_fitted("contributions")
        prep, clf = self.pipeline_[:-1], self.pipeline_[-1]
        names = list(self.feature_names_in_)
        Z = prep.transform(self._matrix(self._prepare(X, "contributions")))
        terms = Z * clf.coef_[0]
        out = terms[:, : len(names)].copy()
        imputer = next(step for step in _steps(prep) if hasattr(step, "indicator_"))
        if imputer.indicator_ is not None:
            for j, feature_index in enumerate(imputer.indicator_.features_):
                out[:, feature_index] += terms[:, len(names) + j]
        return pd.DataFrame(np.asarray(out, dtype="float64"), index=X.index, columns=names)


def _steps(pipeline: object) -> list[object]:
    """Return the leaf steps of a (possibly nested) scikit-learn Pipeline, in order."""
    if not hasattr(pipeline, "steps"):
        return [pipeline]
    return [leaf for _, step in pipeline.steps for leaf in _steps(step)]


HGB_DEFAULTS: dict[str, Any] = {
    "max_iter": 200,
    "learning_rate": 0.05,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "n_threads": 2,
    "random_state": 0,
}
"""Settings both HistGradientBoosting models share, declared once (their __init__ defaults read them)."""
_H = HGB_DEFAULTS


class _HGBSettings:
    """Test settings of the HistGradientBoosting models."""

    @classmethod
    def get_test_params(cls) -> list[dict[str, object]]:
        """Return cheap settings: 25 iterations, one thread."""
        return [{"max_iter": 25, "n_threads": 1}]


class HGB(_HGBSettings, BinaryForecaster):
    """HistGradientBoostingClassifier with a fixed number of iterations (no random early-stopping split)."""

    def __init__(
        self,
        max_iter: int = _H["max_iter"],
        learning_rate: float = _H["learning_rate"],
        max_leaf_nodes: int = _H["max_leaf_nodes"],
        min_samples_leaf: int = _H["min_samples_leaf"],
        l2_regularization: float = _H["l2_regularization"],
        n_threads: int | None = _H["n_threads"],
        random_state: int = _H["random_state"],
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.n_threads = n_threads
        self.random_state = random_state

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        self.estimator_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.random_state,
        )
        with _threads(self.n_threads):
            self.estimator_.fit(self._matrix(X), y.astype(int))

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        with _threads(self.n_threads):
            return self.estimator_.predict_proba(self._matrix(X))[:, 1]


class HGBCount(_HGBSettings, CountForecaster):
    """HistGradientBoostingRegressor with Poisson loss; NB2 predictive distribution (in-sample dispersion)."""

    def __init__(
        self,
        max_iter: int = _H["max_iter"],
        learning_rate: float = _H["learning_rate"],
        max_leaf_nodes: int = _H["max_leaf_nodes"],
        min_samples_leaf: int = _H["min_samples_leaf"],
        l2_regularization: float = _H["l2_regularization"],
        n_threads: int | None = _H["n_threads"],
        random_state: int = _H["random_state"],
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.n_threads = n_threads
        self.random_state = random_state

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        self.estimator_ = HistGradientBoostingRegressor(
            loss="poisson",
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.random_state,
        )
        with _threads(self.n_threads):
            self.estimator_.fit(self._matrix(X), y)
        self.dispersion_ = nb_dispersion(y, self._predict(X))

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        with _threads(self.n_threads):
            return self.estimator_.predict(self._matrix(X))


def one_blas_thread() -> threadpool_limits:
    """Return a context running BLAS on one thread while a linear model fits.

    Its products (30k x 200) are too small to gain from threads, and on a busy 2-core machine threaded
    OpenBLAS made the GLM fits 3-10x slower in wall time (benchmarks/model_fit_times.py).
    """
    return threadpool_limits(limits=1, user_api="blas")


def _threads(n: int | None) -> threadpool_limits:
    """Return a context limiting OpenMP threads (HistGradientBoosting has no n_jobs; None: no limit)."""
    return threadpool_limits(limits=n, user_api="openmp")
