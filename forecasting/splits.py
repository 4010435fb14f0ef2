"""Rolling-origin folds: the one definition of which origins a backtest model trains on and forecasts.

Protocol (docs/BACKTEST.md): test origins are cut into blocks of ``retrain_every`` weeks; a model is fitted
once per block, as it would have been at the block's first origin ``t_first``. At ``t_first`` the panel
holds weeks ``<= t_first - k`` (``k = data_lag_weeks``), so a training origin ``s`` is usable only when its
whole label window ``s .. s + h - 1`` lies in that data: ``s <= t_first - k - h + 1``. That bound is the
fold's ``cutoff``. Later origins of the block reuse the model (no peeking, just a stale model).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pandas as pd

WEEK = pd.Timedelta(weeks=1)


@dataclass(frozen=True, eq=False)
class Fold:
    """One refit of a rolling-origin backtest, for one horizon."""

    horizon: int
    cutoff: pd.Timestamp
    """Last training origin: ``t_first - (k + h - 1)`` weeks (its label window ends at ``data_end``)."""
    data_end: pd.Timestamp
    """Last panel week known at the fold's first test origin: ``t_first - k`` weeks."""
    origins: pd.DatetimeIndex
    """The test origins (publication weeks) this fold forecasts, ascending."""
    train_origins: pd.DatetimeIndex
    """The available origins ``<= cutoff``, ascending."""

    @property
    def first_origin(self) -> pd.Timestamp:
        """Return ``t_first``, the origin the fold's model is fitted for."""
        return self.origins[0]


def _as_weeks(weeks: Iterable[pd.Timestamp] | pd.Series | pd.DatetimeIndex) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(list(weeks) if not isinstance(weeks, pd.Series | pd.Index) else weeks)
    idx = idx.unique().sort_values()
    if idx.hasnans:
        raise ValueError(f"weeks hold {int(idx.isna().sum())} missing values; expected ISO-week Mondays")
    not_monday = idx[idx.day_of_week != 0]
    if len(not_monday):
        examples = [str(d.date()) for d in not_monday[:3]]
        raise ValueError(
            f"{len(not_monday)} weeks do not start on a Monday, e.g. {examples}; "
            "origins are ISO weeks keyed by their Monday (use features.panel.week_start)"
        )
    return idx


def training_cutoff(first_origin: pd.Timestamp, horizon: int, data_lag_weeks: int) -> pd.Timestamp:
    """Return the last origin whose ``horizon``-week label is fully observed at ``first_origin``."""
    if horizon < 1 or data_lag_weeks < 1:
        raise ValueError(f"horizon and data_lag_weeks must be >= 1; got {horizon} and {data_lag_weeks}")
    return pd.Timestamp(first_origin) - (data_lag_weeks + horizon - 1) * WEEK


def rolling_origins(
    weeks: Iterable[pd.Timestamp] | pd.Series | pd.DatetimeIndex,
    test_start: str | pd.Timestamp,
    test_end: str | pd.Timestamp,
    retrain_every: int,
    horizon: int,
    data_lag_weeks: int,
) -> Iterator[Fold]:
    """Yield the folds covering every origin in ``weeks`` between ``test_start`` and ``test_end`` (inclusive).

    Blocks are ``retrain_every`` calendar weeks long, counted from the first test origin, so a gap in
    ``weeks`` does not shift the refit schedule.
    """
    if retrain_every < 1:
        raise ValueError(f"retrain_every must be >= 1 week; got {retrain_every}")
    start, end = pd.Timestamp(test_start), pd.Timestamp(test_end)
    if start > end:
        raise ValueError(f"test_start {start.date()} is after test_end {end.date()}")
    idx = _as_weeks(weeks)
    test = idx[(idx >= start) & (idx <= end)]
    if len(test) == 0:
        span = f"{idx[0].date()} .. {idx[-1].date()}" if len(idx) else "no weeks"
        raise ValueError(f"no origins between {start.date()} and {end.date()}; the weeks span {span}")
    block = ((test - test[0]) // WEEK) // retrain_every
    for b in pd.unique(block):
        origins = test[block == b]
        cutoff = training_cutoff(origins[0], horizon, data_lag_weeks)
        train = idx[idx <= cutoff]
        if len(train) == 0:
            raise ValueError(
                f"no training origins for the fold starting {origins[0].date()} at horizon {horizon}: "
                f"they must be <= {cutoff.date()} (first origin - {data_lag_weeks} lag - {horizon - 1}) but "
                f"the weeks start {idx[0].date()}; move test_start later or extend the panel back"
            )
        yield Fold(
            horizon=horizon,
            cutoff=cutoff,
            data_end=origins[0] - data_lag_weeks * WEEK,
            origins=origins,
            train_origins=train,
        )
