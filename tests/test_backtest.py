"""End-to-end backtest on a small synthetic panel: tables, baselines, slices, and no leakage."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from civrisk.contracts import METRICS, validate_forecasts
from features.build import build_features
from forecasting.backtest import (
    QUANTILE_COLUMNS,
    BacktestResult,
    primary_score,
    run_backtest,
    select_models,
)
from forecasting.metrics import BINARY_METRICS, COUNT_METRICS
from forecasting.plan import BASELINES, BacktestConfig, ModelPlan
from forecasting.splits import WEEK
from forecasting.targets import build_targets
from tests.backtest_fixtures import Inputs, make_inputs, make_panel

MODELS = ("climatology", "persistence", "logistic")
TARGETS = ("civ_any", "civ_deaths")
HORIZONS = (1, 4)
TEST = ("2019-01-01", "2019-12-31")


def plan(
    models: tuple[str, ...] = MODELS,
    targets: tuple[str, ...] = TARGETS,
    horizons: tuple[int, ...] = HORIZONS,
    retrain_every: int = 26,
    n_jobs: int = 1,
) -> ModelPlan:
    """Return the plan of these tests: test year 2019, data lag 1, every fold fitted."""
    protocol = BacktestConfig(
        test_window=TEST,
        retrain_every=retrain_every,
        data_lag_weeks=1,
        min_train_rows=1,
        n_jobs=n_jobs,
        bootstrap_reps=20,
    )
    return ModelPlan(targets=targets, horizons=horizons, models=models, backtest=protocol, seed=3)


def _run(inputs: Inputs, models: tuple[str, ...] = MODELS) -> BacktestResult:
    return run_backtest(inputs.features, inputs.targets, plan(models))


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return make_inputs(horizons=HORIZONS, targets=TARGETS)


@pytest.fixture(scope="module")
def result(inputs: Inputs) -> BacktestResult:
    return _run(inputs)


def test_forecasts_table(result: BacktestResult) -> None:
    fc = validate_forecasts(result.forecasts, "test")
    assert set(fc["model"]) == set(MODELS) | set(BASELINES)
    # logistic is binary only; the baselines forecast both targets
    assert set(fc.loc[fc["target"] == "civ_deaths", "model"]) == set(BASELINES)
    assert fc["week"].between(*TEST).all()
    # every forecast's model was trained only on origins whose label window ended by the data end
    assert (fc["cutoff"] <= fc["week"] - (1 + fc["horizon"] - 1) * WEEK).all()
    assert set(fc["cutoff"].dt.year) <= {2018, 2019}
    counts = fc[fc["target"] == "civ_deaths"]
    q = counts[list(QUANTILE_COLUMNS)].to_numpy()
    assert not np.isnan(q).any() and (np.diff(q, axis=1) >= 0).all()
    assert fc.loc[fc["target"] == "civ_any", list(QUANTILE_COLUMNS)].isna().all().all()
    # same rows for every model of a target x horizon: skill compares like with like
    rows = fc.groupby(["target", "horizon", "model"]).size().unstack("model")
    assert (rows.nunique(axis=1) == 1).all()


def test_metrics_table_shape(result: BacktestResult) -> None:
    m = result.metrics
    assert list(m.columns) == list(METRICS.columns)
    assert set(m["subset"]) == {"all", "onset"}
    assert set(m["year"].dropna()) == {2019}
    overall = m[m["year"].isna()]
    binary = overall[(overall["target"] == "civ_any") & (overall["subset"] == "all")]
    # 5 models (4 baselines and logistic) x 2 horizons x the binary metrics; counts: 4 baselines
    assert len(binary) == 5 * 2 * len(BINARY_METRICS)
    counts = overall[(overall["target"] == "civ_deaths") & (overall["subset"] == "all")]
    assert len(counts) == 4 * 2 * len(COUNT_METRICS)
    skill = overall[(overall["model"] == "climatology") & (overall["metric"] == "brier_skill_climatology")]
    assert np.allclose(skill["value"], 0.0)
    # n counts the scored rows: the labelled forecasts of that slice
    fc, act = result.forecasts, result.actuals
    scored = fc[(fc["model"] == "logistic") & (fc["horizon"] == 4)].merge(
        act, on=["region_id", "week", "horizon", "target"]
    )
    brier = overall[
        (overall["model"] == "logistic") & (overall["horizon"] == 4) & (overall["metric"] == "brier")
    ]
    assert brier.set_index("subset")["n"].to_dict() == {
        "all": len(scored),
        "onset": int(scored["onset"].sum()),
    }


def test_onset_rows_had_no_recent_civilian_deaths(result: BacktestResult, inputs: Inputs) -> None:
    act = result.actuals.merge(inputs.features[["region_id", "week", "civ_deaths_sum_26w_lag1"]])
    assert (act.loc[act["onset"], "civ_deaths_sum_26w_lag1"] == 0).all()
    assert (act.loc[~act["onset"], "civ_deaths_sum_26w_lag1"].fillna(1) > 0).all()
    assert act["onset"].any() and (~act["onset"]).any()


def test_learned_model_beats_climatology_on_predictable_harm(result: BacktestResult) -> None:
    head = result.headline("civ_any", 4)
    assert head.loc["logistic", "brier_skill_climatology"] > 0.05
    chosen = select_models(result.metrics, "brier_skill_climatology")
    assert chosen[("civ_any", 4)] == "logistic"
    assert chosen[("civ_deaths", 4)] in ("climatology", "persistence")
    value = primary_score(result.metrics, "logistic", "civ_any", 4, "brier_skill_climatology", "all")
    assert value == pytest.approx(head.loc["logistic", "brier_skill_climatology"])


def test_data_after_the_fold_start_does_not_change_its_first_forecasts(inputs: Inputs) -> None:
    """Leakage: rewrite every panel week after t_first - k; forecasts at each fold's first origin hold."""
    t_first = pd.Timestamp("2019-01-07")  # first test origin: the first fold's model is fitted here
    panel = make_panel()
    later = panel["week"] > t_first - WEEK
    rng = np.random.default_rng(99)
    measures = [c for c in panel.columns if c not in ("region_id", "unit", "iso3", "week", "covered")]
    noise = rng.poisson(5, size=(int(later.sum()), len(measures))).astype("float32")
    changed = panel.copy()
    changed.loc[later, measures] = np.where(changed.loc[later, "covered"].to_numpy()[:, None], noise, np.nan)
    feats = build_features(changed, None, data_lag_weeks=1)
    labels = build_targets(changed, HORIZONS, TARGETS, origins=pd.DatetimeIndex(feats["week"].unique()))
    base = _run(inputs, ("climatology", "logistic")).forecasts
    moved = _run(Inputs(changed, feats, labels), ("climatology", "logistic")).forecasts
    keys = ["region_id", "week", "horizon", "target", "model"]
    first = base[base["week"] == t_first].merge(
        moved[moved["week"] == t_first], on=keys, suffixes=("", "_new")
    )
    assert len(first) == len(base[base["week"] == t_first]) > 0
    np.testing.assert_allclose(first["p"], first["p_new"], rtol=0, atol=1e-12)
    # and the rewrite does change later forecasts (the check above is not vacuous)
    assert not np.allclose(base["p"].to_numpy(), moved["p"].to_numpy())


def test_errors_name_the_missing_piece(inputs: Inputs) -> None:
    feats = inputs.features.drop(columns="civ_deaths_sum_26w_lag1")
    with pytest.raises(ValueError, match=re.escape("features lack 'civ_deaths_sum_26w_lag1', which defines")):
        run_backtest(feats, inputs.targets, plan())
    with pytest.raises(ValueError, match=re.escape("lacks (target, horizon) pairs [('civ_any', 12)")):
        run_backtest(inputs.features, inputs.targets, plan(horizons=(1, 12)))


def test_parallel_run_gives_the_same_forecasts(inputs: Inputs, result: BacktestResult) -> None:
    par = run_backtest(inputs.features, inputs.targets, plan(n_jobs=2))
    pd.testing.assert_frame_equal(par.forecasts, result.forecasts)
    pd.testing.assert_frame_equal(par.metrics, result.metrics)


def test_baselines_always_run(inputs: Inputs) -> None:
    only = run_backtest(inputs.features, inputs.targets, plan(("logistic",), ("civ_any",), (1,), 52))
    assert set(only.forecasts["model"]) == {*BASELINES, "logistic"}


def test_parallel_workers_make_every_model_single_threaded() -> None:
    from forecasting.backtest import THREAD_PARAMS, _single_threaded, catalog_factory
    from forecasting.catalog import model_names, supports

    make = _single_threaded(catalog_factory(1, seed=0))
    for name in model_names():
        target = "civ_any" if supports(name, "civ_any") else "civ_deaths"
        stack = [make(name, target, 4)]
        while stack:
            model = stack.pop()
            params = model.get_params(deep=False)
            assert all(params[p] == 1 for p in THREAD_PARAMS if p in params), (name, params)
            for value in params.values():
                stack += [
                    v for v in (value if isinstance(value, list | tuple) else [value]) if hasattr(v, "kind")
                ]


def test_progress_is_reported_once_per_unit_in_order(inputs: Inputs) -> None:
    seen: list[tuple[int, int, str]] = []
    run_backtest(
        inputs.features,
        inputs.targets,
        plan(("logistic",), ("civ_any",), (1, 4)),
        on_unit=lambda *a: seen.append(a),
    )
    assert seen == [(1, 2, "civ_any h=1"), (2, 2, "civ_any h=4")]
