"""Reference forecasts every report compares against: zero, climatology, persistence, conflictology.

Each comes as a binary model (P(event in the window)) and a count model (civilian deaths in the window).

- ``Zero``: p = 0 / count 0. Exactly 0, not an epsilon: a proper score such as log loss is then infinite
  wherever an event happens, which is the honest verdict; metrics decide how to report that.
- ``Climatology``: the region's base rate (mean) over all training labels, shrunk toward the global rate
  with ``smoothing`` pseudo-observations (additive/Laplace smoothing with the global rate as prior);
  unseen regions get the global rate.
- ``Persistence``: the event happened in the most recent observed window of the same length
  (``window_feature``, e.g. ``civ_deaths_sum_4w_lag1`` for h = 4) -> p = 1, else 0; optionally pulled in
  by ``smoothing`` from 0/1. Where the feature is NaN (window outside coverage) -> the training base rate.
- ``Conflictology`` (VIEWS): the empirical distribution of the region's own recent labels: the windows of
  the training origins in the last ``window_weeks`` weeks before the last training origin. Training labels
  are fully observed by the forecast origin (the backtest cuts them so), so it only uses data available
  there; it is refitted at each origin. Regions with no recent labels get the pooled recent distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
import pandas as pd

from forecasting.base import BinaryForecaster, CountForecaster, Forecaster, nb_dispersion

SMOOTHING = 1.0
"""Pseudo-observations pulling a region's rate toward the global rate (climatology, conflictology)."""
RECENT_WEEKS = 52
"""Weeks of recent labels conflictology draws from (VIEWS uses the last year)."""
WINDOW_FEATURE = "civ_deaths_sum_4w_lag1"
"""Persistence's observed window when none is given; the catalog sets the one matching the horizon."""

# ----------------------------------------------------------------------------------------------
# Zero
# ----------------------------------------------------------------------------------------------


class Zero(BinaryForecaster):
    """P(event) = 0 everywhere: the 'nothing will happen' reference."""

    _tags: ClassVar[dict[str, object]] = {"baseline": True}

    def _select_features(self, X: pd.DataFrame) -> list[str]:
        return []

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        self.n_train_ = len(y)

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(X))


class ZeroCount(CountForecaster):
    """Zero deaths everywhere, with a point mass at 0 as predictive distribution."""

    _tags: ClassVar[dict[str, object]] = {"baseline": True}

    def _select_features(self, X: pd.DataFrame) -> list[str]:
        return []

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        self.dispersion_ = 0.0

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(X))


# ----------------------------------------------------------------------------------------------
# Climatology
# ----------------------------------------------------------------------------------------------


def _region_means(regions: pd.Series, y: np.ndarray, smoothing: float) -> tuple[pd.Series, float, pd.Series]:
    """Return (region -> mean shrunk toward the global mean, global mean, region -> n labels)."""
    g = float(np.mean(y))
    grouped = pd.Series(y, index=pd.Index(regions.astype("string").to_numpy(), name="region_id")).groupby(
        level=0, sort=True
    )
    total, n = grouped.sum(), grouped.count()
    return (total + smoothing * g) / (n + smoothing), g, n


def _lookup(table: pd.Series, regions: pd.Series, default: float) -> np.ndarray:
    idx = table.index.get_indexer(regions.astype("string").to_numpy())
    values = table.to_numpy(dtype="float64")
    return np.where(idx >= 0, values[np.maximum(idx, 0)] if len(values) else default, default)


def _check_smoothing(name: str, smoothing: float) -> None:
    if not smoothing >= 0:
        raise ValueError(f"{name}: smoothing must be >= 0 pseudo-observations, got {smoothing}")


class Climatology(BinaryForecaster):
    """The region's training base rate, additively smoothed toward the global rate."""

    _tags: ClassVar[dict[str, object]] = {"baseline": True, "refit_every_origin": True}

    def __init__(self, smoothing: float = SMOOTHING) -> None:
        self.smoothing = smoothing

    def _select_features(self, X: pd.DataFrame) -> list[str]:
        return []

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        _check_smoothing(type(self).__name__, self.smoothing)
        self.rates_, self.global_rate_, self.n_labels_ = _region_means(X["region_id"], y, self.smoothing)

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return _lookup(self.rates_, X["region_id"], self.global_rate_)


class ClimatologyCount(CountForecaster):
    """The region's training mean count (smoothed toward the global mean), NB2 around it."""

    _tags: ClassVar[dict[str, object]] = {"baseline": True, "refit_every_origin": True}

    def __init__(self, smoothing: float = SMOOTHING) -> None:
        self.smoothing = smoothing

    def _select_features(self, X: pd.DataFrame) -> list[str]:
        return []

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        _check_smoothing(type(self).__name__, self.smoothing)
        self.means_, self.global_mean_, self.n_labels_ = _region_means(X["region_id"], y, self.smoothing)
        self.dispersion_ = nb_dispersion(y, self._predict(X))

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        return _lookup(self.means_, X["region_id"], self.global_mean_)


# ----------------------------------------------------------------------------------------------
# Persistence
# ----------------------------------------------------------------------------------------------


def _window_feature(model: BinaryForecaster | CountForecaster, X: pd.DataFrame) -> list[str]:
    feature = model.window_feature
    if feature not in X.columns:
        stem = feature.split("_sum_")[0].split("_max_")[0]
        near = [c for c in X.columns if str(c).startswith(stem)][:10]
        raise ValueError(
            f"{type(model).__name__}: window_feature {feature!r} is not a column of X; "
            f"columns starting with {stem!r}: {near}. Pass the observed-window feature whose length "
            "matches the horizon (e.g. civ_deaths_sum_4w_lag1 for h = 4)"
        )
    return [feature]


class Persistence(BinaryForecaster):
    """P = 1 if the last observed window of the same length had the event (feature >= threshold), else 0.

    ``smoothing`` in [0, 0.5) maps 0/1 to smoothing / 1 - smoothing (0: hard 0/1).
    """

    _tags: ClassVar[dict[str, object]] = {"baseline": True}

    def __init__(
        self, window_feature: str = WINDOW_FEATURE, threshold: float = 1.0, smoothing: float = 0.0
    ) -> None:
        self.window_feature = window_feature
        self.threshold = threshold
        self.smoothing = smoothing

    def _select_features(self, X: pd.DataFrame) -> list[str]:
        return _window_feature(self, X)

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        if not 0 <= self.smoothing < 0.5:
            raise ValueError(f"Persistence: smoothing must be in [0, 0.5), got {self.smoothing}")
        self.base_rate_ = float(np.mean(y))

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        x = self._matrix(X)[:, 0]
        hit = (x >= self.threshold).astype("float64")
        p = self.smoothing + (1 - 2 * self.smoothing) * hit
        return np.where(np.isnan(x), self.base_rate_, p)


class PersistenceCount(CountForecaster):
    """Expected count = the last observed window's count (``window_feature`` x ``scale``), NB2 around it."""

    _tags: ClassVar[dict[str, object]] = {"baseline": True}

    def __init__(self, window_feature: str = WINDOW_FEATURE, scale: float = 1.0) -> None:
        self.window_feature = window_feature
        self.scale = scale

    def _select_features(self, X: pd.DataFrame) -> list[str]:
        return _window_feature(self, X)

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        self.base_mean_ = float(np.mean(y))
        self.dispersion_ = nb_dispersion(y, self._predict(X))

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        x = self._matrix(X)[:, 0] * self.scale
        return np.where(np.isnan(x), self.base_mean_, x)


# ----------------------------------------------------------------------------------------------
# Conflictology
# ----------------------------------------------------------------------------------------------


def _recent(
    model: BinaryForecaster | CountForecaster, X: pd.DataFrame, y: np.ndarray
) -> tuple[pd.Series, np.ndarray]:
    """Return the regions and labels of training origins in the last ``window_weeks`` weeks."""
    if not model.window_weeks >= 1:
        raise ValueError(f"{type(model).__name__}: window_weeks must be >= 1, got {model.window_weeks}")
    weeks = pd.DatetimeIndex(X["week"])
    last = weeks.max()
    model.last_train_week_ = last
    keep = np.asarray(weeks > last - pd.Timedelta(weeks=int(model.window_weeks)))
    return X["region_id"][keep], y[keep]


class Conflictology(BinaryForecaster):
    """Share of the region's training windows in the last ``window_weeks`` weeks that had the event."""

    _tags: ClassVar[dict[str, object]] = {"baseline": True, "refit_every_origin": True}

    def __init__(self, window_weeks: int = RECENT_WEEKS, smoothing: float = SMOOTHING) -> None:
        self.window_weeks = window_weeks
        self.smoothing = smoothing

    def _select_features(self, X: pd.DataFrame) -> list[str]:
        return []

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        _check_smoothing(type(self).__name__, self.smoothing)
        regions, recent = _recent(self, X, y)
        self.rates_, self.global_rate_, self.n_labels_ = _region_means(regions, recent, self.smoothing)

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return _lookup(self.rates_, X["region_id"], self.global_rate_)


class ConflictologyCount(CountForecaster):
    """Empirical distribution of the region's window counts over the last ``window_weeks`` training weeks.

    Mean, quantiles (inverted empirical CDF: always an observed count) and exceedance come from that
    sample; regions with fewer than ``min_samples`` recent labels use the pooled recent sample.
    """

    _tags: ClassVar[dict[str, object]] = {"baseline": True, "refit_every_origin": True}

    def __init__(self, window_weeks: int = RECENT_WEEKS, min_samples: int = 4) -> None:
        self.window_weeks = window_weeks
        self.min_samples = min_samples

    def _select_features(self, X: pd.DataFrame) -> list[str]:
        return []

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        regions, recent = _recent(self, X, y)
        self.pooled_ = np.sort(recent)
        samples = pd.Series(recent, index=pd.Index(regions.astype("string").to_numpy())).groupby(level=0)
        self.samples_ = {
            str(r): np.sort(s.to_numpy()) for r, s in samples if len(s) >= max(int(self.min_samples), 1)
        }
        self.dispersion_ = 0.0  # unused: the distribution is empirical

    def _samples(self, X: pd.DataFrame) -> tuple[list[np.ndarray], np.ndarray]:
        """Return the distinct samples and, per row, the index of its sample."""
        keys = X["region_id"].astype("string").to_numpy()
        uniq, inverse = np.unique(keys.astype(str), return_inverse=True)
        return [self.samples_.get(r, self.pooled_) for r in uniq], inverse

    def _per_sample(self, X: pd.DataFrame, fn: Callable[[np.ndarray], object], width: int) -> np.ndarray:
        """Return fn(sample) for each row's sample, computed once per distinct region, (n, width)."""
        if len(X) == 0:
            return np.empty((0, width))
        samples, inverse = self._samples(X)
        values = np.array([np.atleast_1d(np.asarray(fn(s), dtype="float64")) for s in samples])
        return values[inverse]

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._per_sample(X, np.mean, 1)[:, 0]

    def _predict_quantiles(self, X: pd.DataFrame, qs: np.ndarray) -> np.ndarray:
        return self._per_sample(X, lambda s: np.quantile(s, qs, method="inverted_cdf"), len(qs))

    def _predict_exceed(self, X: pd.DataFrame, threshold: float) -> np.ndarray:
        return self._per_sample(X, lambda s: np.mean(s > threshold), 1)[:, 0]


# ----------------------------------------------------------------------------------------------
# Recent climatology
# ----------------------------------------------------------------------------------------------


def _recent_rate(model: RecentClimatology | RecentClimatologyCount, X: pd.DataFrame) -> np.ndarray:
    """Return each row's recent weekly rate: region events per covered week of the last ``window_weeks``
    known weeks, shrunk toward the pooled rate of all regions at the same origin (``smoothing`` weeks)."""
    m = X[model.used_features(X)].astype("float64").to_numpy(dtype="float64", na_value=np.nan)
    events, covered = m[:, 0].astype("float64"), m[:, 1].astype("float64") * model.window_weeks
    known = ~np.isnan(events) & ~np.isnan(covered) & (covered > 0)
    ev, cov = np.where(known, events, 0.0), np.where(known, covered, 0.0)
    codes = pd.factorize(X["week"])[0]  # rows of one origin share a pooled rate
    pooled_ev = np.bincount(codes, weights=ev, minlength=codes.max(initial=-1) + 1)
    pooled_cov = np.bincount(codes, weights=cov, minlength=codes.max(initial=-1) + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = np.where(pooled_cov > 0, pooled_ev / np.maximum(pooled_cov, 1e-12), np.nan)[codes]
        rate = (ev + model.smoothing * g) / (cov + model.smoothing)
    return np.where(known, rate, g)


class RecentClimatology(BinaryForecaster):
    """P = 1 - (1 - r)^h with r the region's share of covered weeks with the target's event in the last
    ``window_weeks`` known weeks, shrunk toward the share pooled over regions at the same origin.

    Everything comes from the features at the origin (``weeks_feature``, ``covered_feature``), so it is
    recomputed at every origin from what was known then; unlike conflictology it also reads the newest
    ``h - 1`` weeks, whose ``h``-week labels are not resolved yet. Weeks are taken as independent.
    """

    _tags: ClassVar[dict[str, object]] = {"baseline": True}

    def __init__(
        self,
        weeks_feature: str = "civ_any_weeks_52w_lag1",
        covered_feature: str = "covered_share_52w_lag1",
        window_weeks: int = RECENT_WEEKS,
        horizon: int = 4,
        smoothing: float = SMOOTHING,
    ) -> None:
        self.weeks_feature = weeks_feature
        self.covered_feature = covered_feature
        self.window_weeks = window_weeks
        self.horizon = horizon
        self.smoothing = smoothing

    def _select_features(self, X: pd.DataFrame) -> list[str]:
        return _columns(self, X, [self.weeks_feature, self.covered_feature])

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        _check_smoothing(type(self).__name__, self.smoothing)
        self.base_rate_ = float(np.mean(y))

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.where(np.isnan(p := self.probability(X)), self.base_rate_, p)

    def probability(self, X: pd.DataFrame) -> np.ndarray:
        """Return P for each row of ``X`` without fitting (NaN where neither the region nor the pool at
        its origin has a known week): the alert rules measure escalation against it at publish time."""
        r = np.clip(_recent_rate(self, X), 0.0, 1.0)
        return 1.0 - (1.0 - r) ** int(self.horizon)


class RecentClimatologyCount(CountForecaster):
    """Expected count = h x the region's civilian deaths per covered week over the last ``window_weeks``
    known weeks (shrunk toward the pooled rate at the same origin), NB2 around it."""

    _tags: ClassVar[dict[str, object]] = {"baseline": True}

    def __init__(
        self,
        sum_feature: str = "civ_deaths_sum_52w_lag1",
        covered_feature: str = "covered_share_52w_lag1",
        window_weeks: int = RECENT_WEEKS,
        horizon: int = 4,
        smoothing: float = SMOOTHING,
    ) -> None:
        self.sum_feature = sum_feature
        self.covered_feature = covered_feature
        self.window_weeks = window_weeks
        self.horizon = horizon
        self.smoothing = smoothing

    def _select_features(self, X: pd.DataFrame) -> list[str]:
        return _columns(self, X, [self.sum_feature, self.covered_feature])

    def _fit(self, X: pd.DataFrame, y: np.ndarray) -> None:
        _check_smoothing(type(self).__name__, self.smoothing)
        self.base_mean_ = float(np.mean(y))
        self.dispersion_ = nb_dispersion(y, self._predict(X))

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        mean = _recent_rate(self, X) * int(self.horizon)
        return np.where(np.isnan(mean), getattr(self, "base_mean_", 0.0), mean)


def _columns(model: Forecaster, X: pd.DataFrame, names: list[str]) -> list[str]:
    missing = [c for c in names if c not in X.columns]
    if missing:
        raise ValueError(
            f"{type(model).__name__}: features {missing} are not columns of X; build the features with the "
            "default FeatureSpec (its target-weeks and coverage families) and the model's data lag"
        )
    return names
