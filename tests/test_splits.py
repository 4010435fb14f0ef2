"""Rolling-origin folds: no training label window reaches the test data; off-by-one cases; cadence."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forecasting.splits import WEEK, rolling_origins, training_cutoff

WEEKS = pd.date_range("2015-01-05", "2021-12-27", freq="W-MON")


def test_off_by_one_by_hand() -> None:
    # origin Mon 2019-01-07, lag 1: data ends 2018-12-31. h = 1: the label of origin 2018-12-31 is week
    # 2018-12-31 itself, known -> allowed; origin 2019-01-07 is not (its week is not yet complete).
    fold = next(rolling_origins(WEEKS, "2019-01-07", "2019-03-25", 13, horizon=1, data_lag_weeks=1))
    assert fold.data_end == pd.Timestamp("2018-12-31")
    assert fold.cutoff == pd.Timestamp("2018-12-31")
    assert fold.train_origins[-1] == pd.Timestamp("2018-12-31")
    # h = 4: the window s .. s+3 must end by 2018-12-31 -> s <= 2018-12-10
    fold4 = next(rolling_origins(WEEKS, "2019-01-07", "2019-03-25", 13, horizon=4, data_lag_weeks=1))
    assert fold4.cutoff == pd.Timestamp("2018-12-10")
    assert pd.Timestamp("2018-12-17") not in fold4.train_origins
    # UCDP candidate lag 5 and h = 12: s + 11 <= t - 5 -> s <= t - 16 weeks
    assert training_cutoff(pd.Timestamp("2019-01-07"), 12, 5) == pd.Timestamp("2019-01-07") - 16 * WEEK


@given(
    horizon=st.integers(1, 26),
    lag=st.integers(1, 8),
    every=st.integers(1, 30),
    start=st.integers(60, 250),
)
def test_no_training_label_window_touches_test_data(horizon: int, lag: int, every: int, start: int) -> None:
    test_start = WEEKS[start]
    for fold in rolling_origins(WEEKS, test_start, WEEKS[start + 80], every, horizon, lag):
        last_label_week = fold.train_origins[-1] + (horizon - 1) * WEEK
        # every training label was observable at the fold's first origin ...
        assert last_label_week <= fold.first_origin - lag * WEEK == fold.data_end
        # ... so it precedes every test origin's label window and data week
        assert last_label_week < fold.origins.min()
        # and the bound is tight: the next origin would not be observable
        assert fold.train_origins[-1] == fold.cutoff
        assert fold.cutoff + WEEK + (horizon - 1) * WEEK > fold.data_end
        assert not set(fold.train_origins) & set(fold.origins)


def test_retrain_cadence_covers_each_test_origin_once() -> None:
    folds = list(rolling_origins(WEEKS, "2017-01-01", "2020-12-31", 13, horizon=4, data_lag_weeks=1))
    origins = pd.DatetimeIndex([o for f in folds for o in f.origins])
    assert origins.is_unique and origins.is_monotonic_increasing
    assert origins[0] == pd.Timestamp("2017-01-02") and origins[-1] == pd.Timestamp("2020-12-28")
    assert len(origins) == 209
    assert [len(f.origins) for f in folds] == [13] * 16 + [1]
    starts = pd.DatetimeIndex([f.first_origin for f in folds])
    assert set(starts[1:] - starts[:-1]) == {13 * WEEK}
    # later folds train on more history
    assert all(len(a.train_origins) < len(b.train_origins) for a, b in zip(folds, folds[1:], strict=False))


def test_a_gap_in_weeks_does_not_shift_the_schedule() -> None:
    gappy = WEEKS.delete(slice(110, 115))
    folds = list(rolling_origins(gappy, WEEKS[104], WEEKS[140], 13, horizon=1, data_lag_weeks=1))
    assert [f.first_origin for f in folds] == [WEEKS[104], WEEKS[117], WEEKS[130]]
    assert len(folds[0].origins) == 8


def test_errors_say_what_to_fix() -> None:
    msg = "no training origins for the fold starting 2015-01-12 at horizon 4: they must be <= 2014-12-15"
    with pytest.raises(ValueError, match=re.escape(msg)):
        list(rolling_origins(WEEKS, "2015-01-12", "2015-06-01", 13, 4, 1))
    with pytest.raises(ValueError, match=re.escape("weeks do not start on a Monday, e.g. ['2020-01-07']")):
        list(rolling_origins([pd.Timestamp("2020-01-07")], "2020-01-01", "2020-02-01", 13, 1, 1))
    with pytest.raises(ValueError, match=re.escape("no origins between 2030-01-01 and 2030-12-31")):
        list(rolling_origins(WEEKS, "2030-01-01", "2030-12-31", 13, 1, 1))
    with pytest.raises(ValueError, match=re.escape("horizon and data_lag_weeks must be >= 1; got 1 and 0")):
        list(rolling_origins(WEEKS, "2019-01-01", "2019-12-31", 13, 1, 0))
