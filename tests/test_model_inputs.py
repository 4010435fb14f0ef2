"""One model-input path: backtest and publication build the same features; any horizon the plan asks for
works; models and features from outside the package plug in."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from civrisk.plugins import PluginError
from civrisk.settings import get_settings
from experiments.config import ConfigError, load_config
from experiments.inputs import prepare_inputs
from features.build import build_features
from features.plugins import check_no_leakage
from forecasting.backtest import run_backtest
from forecasting.plan import BASELINES, BacktestConfig, ModelPlan
from forecasting.targets import build_targets
from publish.publication.asof import clip_to_cutoff, data_cutoff, origin_inputs
from tests.backtest_fixtures import make_panel
from tests.publish_fixtures import LATEST, WEEK, config, fit_model, world_events, write_events_dir

PLUGIN_MODEL = "tests.plugins.example_model:RecentHarmLogit"
PLUGIN_FEATURES = "tests.plugins.example_features:worst_week"


def test_backtest_and_publication_build_identical_features_at_an_origin(tmp_path: Path) -> None:
    folder = write_events_dir(world_events(), tmp_path / "events")
    cfg = config(folder)
    trained = prepare_inputs(cfg)  # what civrisk backtest and civrisk train read
    model = fit_model(cfg, LATEST - 6 * WEEK, "1")
    assert model.feature_spec == cfg.feature_spec()  # the bundle carries the spec it was trained on
    from ingest.events_folder import read_events_dir

    events, coverage = read_events_dir(folder)
    for origin in (LATEST - 5 * WEEK, LATEST - 20 * WEEK):
        cutoff = data_cutoff(origin, None, cfg.backtest.data_lag_weeks)
        ev, cov = clip_to_cutoff(events, coverage, cutoff)
        published = origin_inputs(ev, cov, None, cfg, model.feature_spec, cutoff).features
        backtested = trained.features[trained.features["week"] == origin]
        key = ["region_id", "week"]
        a = published.sort_values(key).reset_index(drop=True)
        b = backtested.sort_values(key).reset_index(drop=True)
        assert len(a) == len(b) > 0 and list(a.columns) == list(b.columns)
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_categorical=False)


def _plan(horizons: tuple[int, ...], models: tuple[str, ...], plugins: tuple[str, ...] = ()) -> ModelPlan:
    protocol = BacktestConfig(
        test_window=("2019-01-01", "2019-06-30"), retrain_every=13, min_train_rows=1, n_jobs=1
    )
    return ModelPlan(
        targets=("civ_any", "civ_deaths"),
        horizons=horizons,
        models=models,
        backtest=protocol,
        feature_plugins=plugins,
    )


def _backtest(plan: ModelPlan):
    panel = make_panel(n_regions=6)
    features = build_features(panel, None, plan.backtest.data_lag_weeks, spec=plan.feature_spec())
    origins = pd.DatetimeIndex(features["week"].unique())
    targets = build_targets(panel, plan.horizons, plan.targets, origins=origins)
    return features, run_backtest(features, targets, plan)


def test_horizons_two_and_eight_get_their_windows_and_run() -> None:
    plan = _plan((2, 8), ("logistic",))
    assert {2, 8} <= set(plan.feature_spec().windows)
    features, result = _backtest(plan)
    assert {"civ_deaths_sum_2w_lag1", "civ_deaths_sum_8w_lag1"} <= set(features.columns)
    m = result.metrics
    for h in (2, 8):
        got = m[(m["horizon"] == h) & (m["metric"] == "brier") & m["year"].isna() & (m["subset"] == "all")]
        assert set(got["model"]) >= {"climatology", "persistence", "logistic"} and got["value"].notna().all()


def test_horizons_beyond_a_year_are_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('name = "c"\nhorizons = [4, 60]\n[data]\nevents = "events"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, get_settings())
    msg = str(err.value)
    assert "\n" not in msg and "key horizons: expected distinct horizons from 1 to 52 weeks" in msg


def test_a_model_and_a_feature_from_outside_the_package_run_in_a_backtest() -> None:
    plan = _plan((4,), (PLUGIN_MODEL,), (PLUGIN_FEATURES,))
    features, result = _backtest(plan)
    assert "civ_deaths_max_8w_lag1" in features.columns
    fc = result.forecasts
    assert set(fc.loc[fc["target"] == "civ_any", "model"]) == {*BASELINES, PLUGIN_MODEL}
    assert not (fc["target"].eq("civ_deaths") & fc["model"].eq(PLUGIN_MODEL)).any()  # binary model only
    m = result.metrics
    auc = m[(m["model"] == PLUGIN_MODEL) & (m["metric"] == "roc_auc") & m["year"].isna()]
    assert len(auc) >= 1 and (auc["value"] > 0.6).all()


def test_plugin_features_are_checked_for_leakage() -> None:
    panel = make_panel(n_regions=4)
    origin = pd.Timestamp("2018-06-04")
    check_no_leakage(PLUGIN_FEATURES, panel, 1, origin)  # reads only weeks <= origin - 1
    with pytest.raises(PluginError, match=re.escape("changes when weeks after 2018-05-28 change")):
        check_no_leakage("tests.plugins.example_features:peeks_ahead", panel, 1, origin)


def test_bad_plugin_paths_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=re.escape("unknown model 'nope'")):
        _plan((4,), ("nope",))
    with pytest.raises(ValueError, match=re.escape("cannot import module 'no_such_pkg.models'")):
        _plan((4,), ("no_such_pkg.models:M",))
    with pytest.raises(ValueError, match=re.escape("has no attribute 'Missing'")):
        _plan((4,), ("tests.plugins.example_model:Missing",))
    with pytest.raises(ValueError, match=re.escape("expected a Forecaster subclass")):
        _plan((4,), ("tests.plugins.example_features:worst_week",))
