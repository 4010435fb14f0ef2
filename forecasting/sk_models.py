"""scikit-learn models: regularised logistic regression and histogram gradient boosting.

Linear models (here and in ``forecasting.glm``) share :func:`linear_preprocessor`: a signed ``log1p`` (death
and event counts are heavy-tailed; the transform is monotone, so trees would not need it), median
imputation with a missing-value indicator per feature that had NaN in training (NaN means "not observed",
e.g. outside coverage or never happened, which is information), and standardisation.

Gradient boosting handles NaN natively and runs ``n_threads`` OpenMP threads (HistGradientBoosting has no
``n_jobs``; on a busy 2-core machine more threads than cores makes it many times slower). Its built-in
early stopping draws a *random* validation split, which on a panel leaks the future into model selection,
so it is off: ``max_iter`` is the fixed budget.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from forecasting.base import BinaryForecaster, CountForecaster, nb_dispersion


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def linear_preprocessor(log1p: bool = True) -> Pipeline:
    """Return an unfitted pipeline: signed log1p (optional) -> median impute + indicators -> standardise."""
    steps: list = []
    if log1p:
        steps.append(FunctionTransformer(_signed_log1p, feature_names_out="one-to-one"))
    steps += [
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
    ]
    return make_pipeline(*steps)


class Logistic(BinaryForecaster):
    """L2-regularised logistic regression (lbfgs) on log1p-transformed, imputed, standardised features."""

    def __init__(
        self, C: float = 0.1, max_iter: int = 300, log1p: bool = True, class_weight: str | None = None
    ):
        self.C = C
        self.max_iter = max_iter
        self.log1p = log1p
        self.class_weight = class_weight

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        self.pipeline_ = make_pipeline(
            linear_preprocessor(self.log1p),
            LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight=self.class_weight),
        )
        with one_blas_thread():
            self.pipeline_.fit(self._matrix(X), y.astype(int))

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict_proba(self._matrix(X))[:, 1]


class HGB(BinaryForecaster):
    """HistGradientBoostingClassifier with a fixed number of iterations (no random early-stopping split)."""

    def __init__(
        self,
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        n_threads: int | None = 2,
        random_state: int = 0,
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


class HGBCount(CountForecaster):
    """HistGradientBoostingRegressor with Poisson loss; NB2 predictive distribution (in-sample dispersion)."""

    def __init__(
        self,
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        n_threads: int | None = 2,
        random_state: int = 0,
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
