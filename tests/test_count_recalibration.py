"""Count recalibration from resolved outcomes only: the leakage test, the over-dispersion it corrects, the
PIT read from a quantile grid, and its use in the backtest (raw quantiles kept)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.backtest import QUANTILE_COLUMNS, QUANTILE_LEVELS
from forecasting.base import nb_quantiles
from forecasting.count_recalibration import (
    CountRecalSpec,
    pit_bounds,
    pit_coverage,
    recalibrate_count_forecasts,
    recalibrate_counts,
)

WEEKS = pd.date_range("2018-01-01", periods=120, freq="W-MON")
COLS = list(QUANTILE_COLUMNS)
N_REGIONS = 30


def _rows(rng: np.random.Generator, alpha: float) -> pd.DataFrame:
    """Return 30 regions x 120 weeks of Poisson outcomes and NB2(mu, ``alpha``) quantile forecasts of them:
    ``alpha`` > 0 is a forecaster too wide for what happens."""
    week = np.repeat(WEEKS, N_REGIONS)
    mu = np.tile(rng.uniform(0.2, 8.0, N_REGIONS), len(WEEKS))
    y = rng.poisson(mu).astype(float)
    q = nb_quantiles(mu, alpha, np.asarray(QUANTILE_LEVELS))
    frame = pd.DataFrame(q, columns=COLS).assign(
        region_id=np.tile(np.arange(N_REGIONS).astype(str), len(WEEKS)),
        week=week,
        p_nonzero=1 - np.exp(-mu),
        y=y,
    )
    return frame


def _pit_cov(frame: pd.DataFrame) -> float:
    lo, hi = pit_bounds(frame["y"].to_numpy(), frame[COLS].to_numpy(), QUANTILE_LEVELS)
    return float(pit_coverage(lo, hi).mean())


def _recal(rows: pd.DataFrame, horizon: int, lag: int, spec: CountRecalSpec, t: pd.Timestamp) -> pd.DataFrame:
    return recalibrate_counts(rows, horizon, lag, spec, pd.DatetimeIndex([t]), COLS, QUANTILE_LEVELS)


@pytest.mark.parametrize(("horizon", "lag"), [(1, 1), (4, 1), (4, 2)])
def test_outcomes_not_resolved_at_the_origin_are_never_read(rng, horizon: int, lag: int) -> None:
    rows = _rows(rng, alpha=0.8)
    spec = CountRecalSpec(method="pit", window_weeks=26, prior_rows=5)
    t = WEEKS[80]
    at_t = (rows["week"] == t).to_numpy()
    before = _recal(rows, horizon, lag, spec, t)
    unresolved = rows["week"] > t - (lag + horizon - 1) * pd.Timedelta(weeks=1)
    scrambled = rows.assign(y=np.where(unresolved, rows["y"] * 7 + 3, rows["y"]))
    after = _recal(scrambled, horizon, lag, spec, t)
    np.testing.assert_array_equal(before[at_t].to_numpy(), after[at_t].to_numpy())
    # ... while changing resolved outcomes inside the window does change the quantiles (the test has teeth)
    resolved = (~unresolved) & (rows["week"] > t - 20 * pd.Timedelta(weeks=1))
    changed = _recal(rows.assign(y=np.where(resolved, rows["y"] * 7 + 3, rows["y"])), horizon, lag, spec, t)
    assert not np.allclose(before[at_t].to_numpy(), changed[at_t].to_numpy())
    # rows of other origins are not forecast at t
    assert before[~at_t].isna().all().all()


def test_an_over_dispersed_forecaster_is_brought_to_80_percent(rng) -> None:
    rows = _rows(rng, alpha=1.0)
    later = rows["week"] >= WEEKS[60]
    assert _pit_cov(rows[later]) > 0.9  # too wide: the raw PITs pile up in the middle
    spec = CountRecalSpec(method="pit", window_weeks=52)
    origins = pd.DatetimeIndex(WEEKS[60:])
    new = recalibrate_counts(rows, 4, 1, spec, origins, COLS, QUANTILE_LEVELS)
    fixed = rows[later].assign(**{c: new.loc[later, c] for c in COLS})
    assert _pit_cov(fixed) == pytest.approx(0.80, abs=0.03)
    # narrower intervals, and the mean pinball loss (CRPS) improves
    raw_width = (rows.loc[later, "q90"] - rows.loc[later, "q10"]).mean()
    assert (fixed["q90"] - fixed["q10"]).mean() < raw_width
    assert _crps(fixed) < _crps(rows[later])


def test_a_calibrated_forecaster_is_left_nearly_alone(rng) -> None:
    rows = _rows(rng, alpha=0.0)
    later = rows["week"] >= WEEKS[60]
    new = recalibrate_counts(
        rows,
        1,
        1,
        CountRecalSpec(method="pit", window_weeks=52),
        pd.DatetimeIndex(WEEKS[60:]),
        COLS,
        QUANTILE_LEVELS,
    )
    fixed = rows[later].assign(**{c: new.loc[later, c] for c in COLS})
    assert _pit_cov(rows[later]) == pytest.approx(0.80, abs=0.03)
    assert _pit_cov(fixed) == pytest.approx(0.80, abs=0.03)
    assert np.abs(fixed[COLS].to_numpy() - rows.loc[later, COLS].to_numpy()).mean() < 0.25


def _crps(frame: pd.DataFrame) -> float:
    from forecasting.metrics import crps_quantiles

    return float(crps_quantiles(frame["y"], frame[COLS].to_numpy(), list(QUANTILE_LEVELS)).mean())


def test_pit_is_read_from_the_quantile_grid() -> None:
    levels = [0.25, 0.5, 0.75]
    q = np.array([[0.0, 0.0, 2.0], [1.0, 2.0, 3.0]])
    lo, hi = pit_bounds(np.array([0.0, 2.0]), q, levels)
    # row 1: Q is 0 up to 0.5 then rises to 2 at 0.75: F(-1) = 0, F(0) = 0.5
    # row 2: F(1) = 0.25, F(2) = 0.5
    np.testing.assert_allclose(lo, [0.0, 0.25])
    np.testing.assert_allclose(hi, [0.5, 0.5])
    # a PIT uniform on [0, 0.5] lands in [0.1, 0.9] with probability 0.8; a point PIT 0.5 surely
    np.testing.assert_allclose(pit_coverage(lo, hi), [0.8, 1.0])


def test_the_backtest_step_keeps_raw_quantiles_and_leaves_other_models(rng) -> None:
    rows = _rows(rng, alpha=1.0)
    fc = rows.drop(columns="y").assign(horizon=np.int64(1), target="civ_deaths", model="glm_negbin", p=1.0)
    base = fc.assign(model="conflictology")
    both = pd.concat([fc, base], ignore_index=True)
    labels = rows[["region_id", "week", "y"]].assign(horizon=np.int64(1), target="civ_deaths")
    out = recalibrate_count_forecasts(
        both, labels, {"glm_negbin"}, 1, CountRecalSpec(method="pit"), QUANTILE_COLUMNS, QUANTILE_LEVELS
    )
    learned = out["model"] == "glm_negbin"
    np.testing.assert_array_equal(out.loc[learned, "q90_raw"], both.loc[learned, "q90"])
    assert (out.loc[learned, "q90"] < out.loc[learned, "q90_raw"]).mean() > 0.5
    np.testing.assert_array_equal(out.loc[~learned, COLS].to_numpy(), both.loc[~learned, COLS].to_numpy())
    off = recalibrate_count_forecasts(
        both, labels, {"glm_negbin"}, 1, CountRecalSpec(method="none"), QUANTILE_COLUMNS, QUANTILE_LEVELS
    )
    np.testing.assert_array_equal(off[COLS].to_numpy(), both[COLS].to_numpy())
