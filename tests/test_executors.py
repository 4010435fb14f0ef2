"""Backtest executors: the Dask engine's units give the very forecasts, scores and notes of the local pool."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from pydantic import ValidationError

from forecasting.backtest import BacktestResult, catalog_factory, run_backtest
from forecasting.executors import DaskExecutor, _run_block, merge_blocks, run_local, work_units
from forecasting.plan import BacktestConfig, ModelPlan
from tests.backtest_fixtures import Inputs, make_inputs

MODELS = ("climatology", "persistence", "logistic", "xgb", "xgb_count")
CHEAP = {"xgb": {"n_estimators": 15, "n_jobs": 1}, "xgb_count": {"n_estimators": 15, "n_jobs": 1}}
TARGETS = ("civ_any", "civ_deaths")
HORIZONS = (1, 4)


def plan(executor: str = "local", n_jobs: int = 1, min_train_rows: int = 1) -> ModelPlan:
    """Return a small plan: 2019 tested in 13-week blocks, two targets, two horizons."""
    protocol = BacktestConfig(
        test_window=("2019-01-01", "2019-12-31"),
        retrain_every=13,
        data_lag_weeks=1,
        min_train_rows=min_train_rows,
        n_jobs=n_jobs,
        executor=executor,
    )
    return ModelPlan(
        targets=TARGETS, horizons=HORIZONS, models=MODELS, model_params=CHEAP, backtest=protocol, seed=3
    )


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return make_inputs(horizons=HORIZONS, targets=TARGETS)


@pytest.fixture(scope="module")
def local(inputs: Inputs) -> BacktestResult:
    return run_backtest(inputs.features, inputs.targets, plan())


def _same(a: BacktestResult, b: BacktestResult) -> None:
    pd.testing.assert_frame_equal(a.forecasts, b.forecasts)
    pd.testing.assert_frame_equal(a.actuals, b.actuals)
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    pd.testing.assert_frame_equal(a.importances, b.importances)
    assert a.notes == b.notes
    cols = ["model", "target", "horizon", "folds", "train_rows"]
    pd.testing.assert_frame_equal(a.timings[cols], b.timings[cols])


@pytest.mark.slow
def test_dask_local_cluster_gives_the_local_results(inputs: Inputs, local: BacktestResult) -> None:
    calls: list[tuple[int, int, str]] = []
    engine = run_backtest(
        inputs.features, inputs.targets, plan("dask", n_jobs=2), on_unit=lambda *a: calls.append(a)
    )
    _same(local, engine)
    # progress: once per target x horizon, as its last refit block finishes
    assert [c[:2] for c in calls] == [(i, 4) for i in range(1, 5)]
    assert sorted(c[2] for c in calls) == sorted(f"{t} h={h}" for t in TARGETS for h in HORIZONS)
    assert len(local.forecasts) > 0 and len(local.importances) > 0


def test_blocks_stitched_per_model_equal_one_serial_run(inputs: Inputs) -> None:
    """The engine's cut (one task per model x refit block) and its merge, run here without a cluster."""
    from forecasting.backtest import _Folds, _join, _labels
    from forecasting.executors import UnitGroup, block_folds
    from forecasting.splits import rolling_origins

    features = inputs.features.assign(region_id=inputs.features["region_id"].astype("string"))
    weeks = pd.DatetimeIndex(features["week"].unique()).sort_values()
    labels = _labels(inputs.targets, TARGETS, HORIZONS)
    keys = features[["region_id", "week"]]
    # 600 rows: the first blocks of h=4 have fewer labelled rows and are skipped (a note, no forecasts)
    min_rows = 2400
    groups = []
    for h in HORIZONS:
        folds = _Folds(
            models=list(rolling_origins(weeks, "2019-01-01", "2019-12-31", 13, h, 1)),
            every_origin=list(rolling_origins(weeks, "2019-01-01", "2019-12-31", 1, h, 1)),
        )
        y = _join(keys, labels, "civ_any", h)["y"].to_numpy()
        groups.append(UnitGroup(y, folds, ["climatology", "logistic"], "civ_any", h))
    make = catalog_factory(1, seed=3)
    serial = run_local(features, groups, make, min_rows, n_jobs=1)
    units = work_units(groups)
    assert len(units) == sum(len(g.models) * len(g.folds.models) for g in groups)
    # a baseline refitted at every origin gets, per block, exactly the origins of that block
    per_block = [block_folds(groups[0].folds, b).every_origin for b in range(len(groups[0].folds.models))]
    assert sum(len(b) for b in per_block) == len(groups[0].folds.every_origin)
    runs = [
        _run_block(
            features,
            groups[u.group].y,
            block_folds(groups[u.group].folds, u.fold),
            make,
            u.model,
            "civ_any",
            groups[u.group].horizon,
            min_rows,
        )
        for u in units
    ]
    stitched = merge_blocks(groups, units, runs)
    notes = [n for group in serial for run in group for n in run.notes]
    assert any("skipped" in n for n in notes), "the check needs a skipped block"
    for mine, theirs in zip(stitched, serial, strict=True):
        for a, b in zip(mine, theirs, strict=True):
            pd.testing.assert_frame_equal(a.forecasts, b.forecasts)
            assert a.notes == b.notes
            assert (a.importance is None) == (b.importance is None)
            if a.importance is not None:
                pd.testing.assert_frame_equal(a.importance, b.importance)
            assert {k: a.timing[k] for k in ("folds", "train_rows")} == {
                k: b.timing[k] for k in ("folds", "train_rows")
            }


def test_cluster_address_needs_the_dask_executor() -> None:
    msg = "backtest.cluster_address 'tcp://127.0.0.1:8786' is set but backtest.executor is 'local'"
    with pytest.raises(ValidationError, match=re.escape(msg)):
        BacktestConfig(cluster_address="tcp://127.0.0.1:8786")
    with pytest.raises(ValidationError, match=re.escape("Input should be 'local' or 'dask'")):
        BacktestConfig.model_validate({"executor": "spark"})


def test_unreachable_scheduler_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import forecasting.executors as ex

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(ex, "CONNECT_TIMEOUT_S", 1)
    address = f"tcp://127.0.0.1:{port}"
    engine = DaskExecutor(1, address)
    with pytest.raises(ValueError, match=re.escape(f"backtest.cluster_address {address!r}: no Dask")):
        engine.__enter__()
