"""Recalibration from resolved outcomes only: the leakage test, the level-shift it corrects, and its use in
the backtest (raw probability kept) and at publication."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.recalibration import RecalSpec, apply_map, fit_map, in_the_large_z, recalibrate

WEEKS = pd.date_range("2018-01-01", periods=160, freq="W-MON")


def _rows(rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    """Return 20 regions x 160 weeks of raw forecasts and outcomes; from week 80 harm runs ``shift`` above."""
    n = 20
    week = np.repeat(WEEKS, n)
    p = rng.uniform(0.05, 0.6, len(week))
    truth = np.clip(p + np.where(week >= WEEKS[80], shift, 0.0), 0, 1)
    y = (rng.random(len(week)) < truth).astype(float)
    return pd.DataFrame(
        {"region_id": np.tile(np.arange(n).astype(str), len(WEEKS)), "week": week, "p": p, "y": y}
    )


@pytest.mark.parametrize(("horizon", "lag"), [(1, 1), (4, 1), (4, 2)])
def test_outcomes_not_resolved_at_the_origin_are_never_read(rng, horizon: int, lag: int) -> None:
    rows = _rows(rng, shift=0.2)
    spec = RecalSpec(method="beta", window_weeks=52, lam=10.0)
    t = WEEKS[120]
    before = recalibrate(rows, horizon, lag, spec, pd.DatetimeIndex([t]))
    unresolved = rows["week"] > t - (lag + horizon - 1) * pd.Timedelta(weeks=1)
    flipped = rows.assign(y=np.where(unresolved, 1 - rows["y"], rows["y"]))
    after = recalibrate(flipped, horizon, lag, spec, pd.DatetimeIndex([t]))
    at_t = rows["week"] == t
    np.testing.assert_array_equal(before[at_t].to_numpy(), after[at_t].to_numpy())
    # ... while changing resolved outcomes does change the forecast (the test has teeth)
    resolved = (~unresolved) & (rows["week"] > t - 30 * pd.Timedelta(weeks=1))
    changed = rows.assign(y=np.where(resolved, 1.0, rows["y"]))
    moved = recalibrate(changed, horizon, lag, spec, pd.DatetimeIndex([t]))
    assert (moved[at_t] > before[at_t]).all()
    assert before[~at_t].isna().all()


def test_a_level_shift_is_followed_and_a_calibrated_model_left_alone(rng) -> None:
    spec = RecalSpec(method="beta", window_weeks=52, lam=50.0)
    shifted = _rows(rng, shift=0.15)
    origins = pd.DatetimeIndex(WEEKS[120:])
    late = shifted["week"].isin(origins)
    q = recalibrate(shifted, 1, 1, spec, origins)[late]
    y, p = shifted.loc[late, "y"], shifted.loc[late, "p"]
    assert abs(q.mean() - y.mean()) < abs(p.mean() - y.mean()) / 2  # most of the 0.15 bias is gone
    calibrated = _rows(rng, shift=0.0)
    q = recalibrate(calibrated, 1, 1, spec, origins)[late]
    assert np.abs(q - calibrated.loc[late, "p"]).max() < 0.05  # near the identity


def test_the_chosen_shrinkage_keeps_short_histories_near_the_identity(rng) -> None:
    p = rng.uniform(0.1, 0.9, 30)
    theta = fit_map(p, np.ones(30), RecalSpec())  # 30 rows of pure harm against lam = 1000
    assert np.abs(apply_map(p, RecalSpec(), theta) - p).max() < 0.02
    assert in_the_large_z(np.full(100, 0.2), np.ones(100), inflation=4.0) > 5


def test_method_none_returns_the_raw_probabilities(rng) -> None:
    rows = _rows(rng, shift=0.3)
    origins = pd.DatetimeIndex(WEEKS[100:])
    out = recalibrate(rows, 4, 1, RecalSpec(method="none"), origins)
    inside = rows["week"].isin(origins)
    np.testing.assert_array_equal(out[inside].to_numpy(), rows.loc[inside, "p"].to_numpy())


def test_the_backtest_recalibrates_learned_models_and_keeps_the_raw_probability() -> None:
    from forecasting.backtest import run_backtest
    from forecasting.plan import BASELINES, BacktestConfig, ModelPlan
    from tests.backtest_fixtures import make_inputs

    inputs = make_inputs(horizons=(4,), targets=("civ_any",))
    protocol = BacktestConfig(
        test_window=("2018-01-01", "2019-12-31"), min_train_rows=1, n_jobs=1, bootstrap_reps=0
    )
    plan = ModelPlan(targets=("civ_any",), horizons=(4,), models=("logistic",), backtest=protocol)
    fc = run_backtest(inputs.features, inputs.targets, plan).forecasts
    base = fc[fc["model"].isin(BASELINES)]
    assert (base["p"] == base["p_raw"]).all()
    logistic = fc[fc["model"] == "logistic"]
    assert not np.allclose(logistic["p"], logistic["p_raw"])
    # the first origins have no resolved history: there the map is the identity
    first = logistic[logistic["week"] == logistic["week"].min()]
    np.testing.assert_allclose(first["p"], first["p_raw"], atol=1e-9)
    off = ModelPlan(**{**plan.model_dump(), "recalibration": RecalSpec(method="none")})
    raw = run_backtest(inputs.features, inputs.targets, off).forecasts
    assert (raw["p"] == raw["p_raw"]).all()


def test_publication_recalibrates_from_the_models_own_forecasts_since_its_data_end(tmp_path) -> None:
    from dataclasses import replace

    from ingest.events_folder import read_events_dir
    from publish.publication.asof import clip_to_cutoff, data_cutoff, origin_inputs
    from publish.publication.recalibrate import history_origins, recalibrate_publication
    from tests.publish_fixtures import LATEST, WEEK, config, fit_model, world_events, write_events_dir

    folder = write_events_dir(world_events(), tmp_path / "events")
    cfg = config(folder)
    model = fit_model(cfg.model_copy(update={"recalibration": RecalSpec(lam=1.0)}), LATEST - 40 * WEEK, "1")
    events, coverage = read_events_dir(folder)
    cutoff = data_cutoff(LATEST, None, 1)
    earlier = history_origins(model, LATEST)
    assert earlier[0] == model.data_end + WEEK and earlier[-1] == LATEST - WEEK
    ev, cov = clip_to_cutoff(events, coverage, cutoff)
    inputs = origin_inputs(ev, cov, None, cfg, model.feature_spec, cutoff, earlier)
    out = recalibrate_publication(model, inputs.features, inputs.panel, LATEST)
    assert set(out["week"]) == {LATEST}
    learned = out["target"].eq("civ_any")  # logistic in these bundles; the other targets are climatology
    assert not np.allclose(out.loc[learned, "p"], out.loc[learned, "p_raw"])
    assert (out.loc[~learned, "p"] == out.loc[~learned, "p_raw"]).all()
    plain = replace(model, bundle=replace(model.bundle, recalibration=RecalSpec(method="none")))
    assert history_origins(plain, LATEST) == []
