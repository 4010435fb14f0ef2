"""The forecaster interface every civrisk model follows, and the predictive distribution of count models.

scikit-learn / sktime style: ``__init__`` stores settings only; ``fit(X, y)`` validates once, chooses the
feature columns, and calls the subclass's ``_fit``; learned state ends in ``_``; an unfitted model raises
:class:`NotFittedError`. ``X`` is a FEATURES-contract frame (``region_id, week, iso3`` [+ ``unit``] and
numeric feature columns); ``y`` is a Series aligned with ``X`` (same index) without NaN: callers drop rows
whose label window is not covered.

Two kinds of model:

- ``kind = "binary"``: ``predict_proba(X) -> (n,)`` = P(y = 1), in [0, 1].
- ``kind = "count"``: ``predict(X) -> (n,)`` expected count; ``predict_quantiles(X, qs) -> (n, len(qs))``
  and ``predict_proba_exceed(X, threshold) -> (n,)`` = P(Y > threshold). By default the predictive
  distribution is negative binomial (NB2: Var = mu + alpha * mu**2) around the predicted mean with the
  dispersion ``alpha = dispersion_`` the model estimated when fitting (``alpha = 0`` is Poisson); a model
  with its own distribution (e.g. an empirical one) overrides ``_predict_quantiles``/``_predict_exceed``.

:func:`predict_p` returns the FORECASTS contract's ``p`` for either kind (probability or expected count).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

from civrisk.contracts import validate_features

KEY_COLUMNS = ("region_id", "week", "iso3", "unit")
"""Columns of a feature frame that identify a row and are never used as features."""

KINDS = ("binary", "count")


class NotFittedError(_SklearnNotFittedError):
    """A model was used before ``fit``; also a scikit-learn NotFittedError (ValueError, AttributeError)."""


class DegenerateTargetWarning(UserWarning):
    """The training labels hold a single value, so the model predicts that constant."""


class Forecaster(BaseEstimator):
    """Base of every civrisk model: validates inputs once and calls ``_fit`` / ``_predict_*``.

    Subclasses set ``kind`` and implement ``_fit(X, y)`` (X: the validated frame, keys plus the chosen
    feature columns; y: float array) and a prediction hook. They may override ``_select_features`` to use
    a subset (or none) of the numeric columns.
    """

    kind: ClassVar[str] = ""

    _tags: ClassVar[dict[str, object]] = {
        "capability:importance": False,  # feature_importances() -> share of gain per feature
        "capability:contributions": False,  # contributions(X) -> signed per-row attributions (margin units)
        "capability:intervals": False,  # predict_quantiles(X, qs) -> predictive quantiles
        "wrapper": False,  # capabilities are those of the fitted inner model ``inner_``
        "baseline": False,  # a reference forecast every backtest runs
        "refit_every_origin": False,  # learns from labels but needs no fit: refitted at every origin
    }
    """Capabilities, declared (sktime's tags): code asks ``get_tag`` instead of checking classes."""

    # -- tags and test settings ----------------------------------------------------------------------

    @classmethod
    def get_class_tags(cls) -> dict[str, object]:
        """Return the class's tags: each class's ``_tags`` over its parents'."""
        tags: dict[str, object] = {}
        for klass in reversed(cls.__mro__):
            tags.update(vars(klass).get("_tags", {}))
        return tags

    def get_tag(self, name: str) -> object:
        """Return tag ``name``; a fitted wrapper answers capabilities with its inner model's tags."""
        tags = self.get_class_tags()
        if name not in tags:
            raise ValueError(f"{self._name}: unknown tag {name!r}; tags are {sorted(tags)}")
        inner = getattr(self, "inner_", None)
        if tags["wrapper"] and name.startswith("capability:") and isinstance(inner, Forecaster):
            return inner.get_tag(name)
        return tags[name]

    @classmethod
    def get_test_params(cls) -> list[dict[str, object]]:
        """Return cheap settings for the shared conformance tests (few trees, one thread); [{}] by default."""
        return [{}]

    # -- fitting ------------------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y: pd.Series | np.ndarray) -> Forecaster:
        """Fit on a feature frame and aligned labels; return ``self``."""
        X = self._check_frame(X, "fit")
        if len(X) == 0:
            raise ValueError(f"{self._name}.fit: X has no rows; fit needs at least one labelled origin")
        yv = self._check_y(y, X)
        features = list(self._select_features(X))
        self.feature_names_in_ = np.asarray(features, dtype=object)
        self.n_features_in_ = len(features)
        self.constant_ = float(yv[0]) if np.all(yv == yv[0]) else None
        if self.constant_ is not None:
            warnings.warn(
                f"{self._name}.fit: all {len(yv)} training labels equal {self.constant_:g}; "
                "the model predicts that constant",
                DegenerateTargetWarning,
                stacklevel=2,
            )
            self._fit_constant(self.constant_)
        else:
            self._fit(self._restrict(X), yv)
        self.is_fitted_ = True
        return self

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _fit(X, y)")

    def _fit_constant(self, value: float) -> None:
        """Set any state a constant model needs (count models: zero dispersion)."""

    def _select_features(self, X: pd.DataFrame) -> list[str]:
        """Return the feature columns this model uses: by default every numeric non-key column."""
        return numeric_feature_columns(X)

    def used_features(self, X: pd.DataFrame) -> list[str]:
        """Return the columns of ``X`` this model would read if fitted on it (before fitting too)."""
        return list(self._select_features(X))

    # -- prediction helpers ---------------------------------------------------------------------------

    def _prepare(self, X: pd.DataFrame, method: str) -> pd.DataFrame:
        """Check fitted and X; return X restricted to keys + ``feature_names_in_`` (extra columns dropped)."""
        self._check_is_fitted(method)
        X = self._check_frame(X, method)
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(
                f"{self._name}.{method}: X lacks {len(missing)} feature columns seen in fit: {missing[:20]}"
                f"{' ...' if len(missing) > 20 else ''}; build the features with the same settings as "
                "the training frame"
            )
        return self._restrict(X)

    def _restrict(self, X: pd.DataFrame) -> pd.DataFrame:
        keys = [c for c in KEY_COLUMNS if c in X.columns]
        return X[keys + list(self.feature_names_in_)]

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """Return the feature columns of X as a float matrix (NaN where missing), in ``fit`` order."""
        cols = list(self.feature_names_in_)
        if not cols:
            return np.empty((len(X), 0))
        return X[cols].astype("float64").to_numpy(dtype="float64", na_value=np.nan)

    def _check_is_fitted(self, method: str) -> None:
        if not getattr(self, "is_fitted_", False):
            raise NotFittedError(
                f"This {self._name} instance is not fitted yet; call fit(X, y) before {method}()."
            )

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _check_frame(self, X: pd.DataFrame, method: str) -> pd.DataFrame:
        validate_features(X, where=f"{self._name}.{method}")
        numeric = numeric_feature_columns(X)
        if numeric:
            values = X[numeric].astype("float64").to_numpy(dtype="float64", na_value=np.nan)
            bad = np.isinf(values).any(axis=0)
            if bad.any():
                cols = [c for c, b in zip(numeric, bad, strict=True) if b]
                raise ValueError(
                    f"{self._name}.{method}: feature columns {cols} hold +/-inf; features must be finite "
                    "or NaN (missing)"
                )
        return X

    def _check_y(self, y: pd.Series | np.ndarray, X: pd.DataFrame) -> np.ndarray:
        if isinstance(y, pd.DataFrame):
            raise ValueError(f"{self._name}.fit: y must be a Series or 1-d array, got a DataFrame")
        if isinstance(y, pd.Series):
            if len(y) != len(X) or not y.index.equals(X.index):
                raise ValueError(
                    f"{self._name}.fit: y (length {len(y)}) is not aligned with X (length {len(X)}): their "
                    "indexes differ; pass y indexed like X (e.g. y.loc[X.index])"
                )
            yv = pd.to_numeric(y, errors="raise").astype("float64").to_numpy(dtype="float64", na_value=np.nan)
        else:
            yv = np.asarray(y, dtype="float64").reshape(-1)
            if len(yv) != len(X):
                raise ValueError(f"{self._name}.fit: y has {len(yv)} values but X has {len(X)} rows")
        n_nan = int(np.isnan(yv).sum())
        if n_nan:
            raise ValueError(
                f"{self._name}.fit: y holds {n_nan} NaN labels of {len(yv)}; NaN means the label window "
                "is not covered: drop those rows from X and y before fit"
            )
        if self.kind == "binary":
            bad = ~np.isin(yv, (0.0, 1.0))
            if bad.any():
                raise ValueError(
                    f"{self._name}.fit: binary model needs labels in {{0, 1}}; got {int(bad.sum())} other "
                    f"values, e.g. {sorted(set(yv[bad][:5].tolist()))}"
                )
        elif self.kind == "count":
            bad = ~np.isfinite(yv) | (yv < 0)
            if bad.any():
                raise ValueError(
                    f"{self._name}.fit: count model needs finite labels >= 0; got {int(bad.sum())} others, "
                    f"e.g. {sorted(set(yv[bad][:5].tolist()))}"
                )
        return yv


def nested_models(model: Forecaster) -> Iterator[Forecaster]:
    """Yield ``model`` and every model among its settings (``base``, ``members``), depth first."""
    yield model
    for value in model.get_params(deep=False).values():
        for inner in value if isinstance(value, list | tuple) else [value]:
            if isinstance(inner, Forecaster):
                yield from nested_models(inner)


def set_nested_params(model: Forecaster, **params: object) -> Forecaster:
    """Set each of ``params`` on ``model`` and on every nested model that has that setting; return it."""
    for m in nested_models(model):
        own = m.get_params(deep=False)
        m.set_params(**{k: v for k, v in params.items() if k in own})
    return model


def capable(model: Forecaster, capability: str) -> Forecaster | None:
    """Return the fitted model that provides ``capability`` ("importance", "contributions", ...): the
    model itself or, for a wrapper, its inner model; None when it has none or learned only a constant."""
    if not model.get_tag(f"capability:{capability}"):
        return None
    target: Forecaster = model
    if model.get_tag("wrapper") and isinstance(getattr(model, "inner_", None), Forecaster):
        target = model.inner_
    if getattr(target, "constant_", None) is not None:
        return None
    return target


class BinaryForecaster(Forecaster):
    """A model of P(y = 1) for a binary target."""

    kind: ClassVar[str] = "binary"

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return P(y = 1) for each row of X, shape (n,)."""
        Xr = self._prepare(X, "predict_proba")
        if self.constant_ is not None or len(Xr) == 0:
            return np.full(len(Xr), self.constant_ or 0.0)
        p = np.asarray(self._predict_proba(Xr), dtype="float64").reshape(-1)
        return _checked(np.clip(p, 0.0, 1.0), len(Xr), self._name, "predict_proba")

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement _predict_proba(X)")


class CountForecaster(Forecaster):
    """A model of a non-negative count with a predictive distribution (NB2 around the mean by default)."""

    _tags: ClassVar[dict[str, object]] = {"capability:intervals": True}

    kind: ClassVar[str] = "count"

    def _fit_constant(self, value: float) -> None:
        self.dispersion_ = 0.0

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Return the expected count for each row of X, shape (n,)."""
        Xr = self._prepare(X, "predict")
        return self._mean(Xr, "predict")

    def predict_quantiles(self, X: pd.DataFrame, qs: Sequence[float] = (0.1, 0.5, 0.9)) -> np.ndarray:
        """Return predictive quantiles, shape (n, len(qs)); integer-valued for the NB/Poisson default."""
        q = np.asarray(qs, dtype="float64").reshape(-1)
        if q.size == 0 or np.any((q <= 0) | (q >= 1)):
            raise ValueError(f"{self._name}.predict_quantiles: qs must be in (0, 1), got {list(qs)}")
        Xr = self._prepare(X, "predict_quantiles")
        if self.constant_ is not None or len(Xr) == 0:
            return np.full((len(Xr), q.size), self.constant_ or 0.0)
        out = np.asarray(self._predict_quantiles(Xr, q), dtype="float64")
        # quantiles must not cross: a predictive distribution's quantile function is non-decreasing
        order = np.argsort(q, kind="stable")
        out[:, order] = np.maximum.accumulate(out[:, order], axis=1)
        return out

    def predict_proba_exceed(self, X: pd.DataFrame, threshold: float) -> np.ndarray:
        """Return P(Y > threshold) for each row of X, shape (n,) (threshold 0: P(at least one))."""
        Xr = self._prepare(X, "predict_proba_exceed")
        if self.constant_ is not None or len(Xr) == 0:
            return np.full(len(Xr), float((self.constant_ or 0.0) > threshold))
        p = np.asarray(self._predict_exceed(Xr, float(threshold)), dtype="float64")
        return _checked(np.clip(p, 0.0, 1.0), len(Xr), self._name, "predict_proba_exceed")

    def _mean(self, Xr: pd.DataFrame, method: str) -> np.ndarray:
        if self.constant_ is not None or len(Xr) == 0:
            return np.full(len(Xr), self.constant_ or 0.0)
        mu = np.asarray(self._predict(Xr), dtype="float64").reshape(-1)
        return _checked(np.maximum(mu, 0.0), len(Xr), self._name, method)

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement _predict(X)")

    def _predict_quantiles(self, X: pd.DataFrame, qs: np.ndarray) -> np.ndarray:
        return nb_quantiles(self._mean(X, "predict_quantiles"), self.dispersion_, qs)

    def _predict_exceed(self, X: pd.DataFrame, threshold: float) -> np.ndarray:
        return nb_exceed(self._mean(X, "predict_proba_exceed"), self.dispersion_, threshold)


# ----------------------------------------------------------------------------------------------
# Helpers shared by models and by callers (backtest, publish)
# ----------------------------------------------------------------------------------------------


def numeric_feature_columns(X: pd.DataFrame) -> list[str]:
    """Return the numeric (incl. bool) columns of X that are not keys, in frame order."""
    return [c for c in X.columns if c not in KEY_COLUMNS and pd.api.types.is_numeric_dtype(X[c])]


def predict_p(model: Forecaster, X: pd.DataFrame) -> np.ndarray:
    """Return the FORECASTS ``p`` column: P(y = 1) for binary models, the expected count for count models."""
    if model.kind == "binary":
        return model.predict_proba(X)
    if model.kind == "count":
        return model.predict(X)
    raise ValueError(f"{type(model).__name__} has kind {model.kind!r}; expected one of {KINDS}")


def nb_dispersion(y: np.ndarray, mu: np.ndarray) -> float:
    """Return the NB2 dispersion alpha >= 0 by moments: sum((y - mu)^2 - y) / sum(mu^2) (0 = Poisson)."""
    y = np.asarray(y, dtype="float64")
    mu = np.maximum(np.asarray(mu, dtype="float64"), 0.0)
    denom = float(np.sum(mu**2))
    if denom <= 0:
        return 0.0
    return max(0.0, float(np.sum((y - mu) ** 2 - y)) / denom)


def _nb_params(mu: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    n = 1.0 / alpha
    return np.full_like(mu, n), n / (n + mu)


def nb_quantiles(mu: np.ndarray, alpha: float, qs: np.ndarray) -> np.ndarray:
    """Return NB2(mu, alpha) quantiles, shape (len(mu), len(qs)); Poisson when alpha == 0; 0 where mu == 0."""
    mu = np.asarray(mu, dtype="float64").reshape(-1, 1)
    qs = np.asarray(qs, dtype="float64").reshape(1, -1)
    safe = np.where(mu > 0, mu, 1.0)
    if alpha > 0:
        n, p = _nb_params(safe, alpha)
        out = stats.nbinom.ppf(qs, n, p)
    else:
        out = stats.poisson.ppf(qs, safe)
    return np.where(mu > 0, out, 0.0)


def nb_exceed(mu: np.ndarray, alpha: float, threshold: float) -> np.ndarray:
    """Return P(Y > threshold) under NB2(mu, alpha) (Poisson when alpha == 0); 0 where mu == 0 and t >= 0."""
    mu = np.asarray(mu, dtype="float64").reshape(-1)
    if threshold < 0:
        return np.ones_like(mu)
    k = np.floor(threshold)
    safe = np.where(mu > 0, mu, 1.0)
    if alpha > 0:
        n, p = _nb_params(safe, alpha)
        out = stats.nbinom.sf(k, n, p)
    else:
        out = stats.poisson.sf(k, safe)
    return np.where(mu > 0, out, 0.0)


def _checked(values: np.ndarray, n: int, name: str, method: str) -> np.ndarray:
    if values.shape != (n,):
        raise RuntimeError(f"{name}.{method} returned shape {values.shape}, expected ({n},)")
    if np.isnan(values).any():
        raise RuntimeError(
            f"{name}.{method} returned {int(np.isnan(values).sum())} NaN predictions of {n}; "
            "the model must handle missing features itself"
        )
    return values
