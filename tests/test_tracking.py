"""MLflow tracking: a backtest run holds the config params, provenance tags, scores and artifacts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiments.config import DataConfig, ExperimentConfig
from experiments.tracking import (
    DATA_TAG,
    KIND_TAG,
    data_fingerprint,
    find_backtest_run,
    load_run_metrics,
    log_backtest,
    metric_key,
)
from forecasting.backtest import BacktestResult, run_backtest
from forecasting.plan import BASELINES, BacktestConfig
from tests.backtest_fixtures import make_inputs
from tests.mlflow_store import fresh_store

pytestmark = pytest.mark.slow

CONFIG = ExperimentConfig(
    name="synthetic",
    data=DataConfig(events=Path("/nonexistent/events")),
    targets=("civ_any", "civ_deaths"),
    horizons=(1, 4),
    models=("xgb",),
    model_params={"xgb": {"n_estimators": 15}},
    backtest=BacktestConfig(test_years=(2019, 2019), retrain_every=26),
)


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    inputs = make_inputs(horizons=CONFIG.horizons, targets=CONFIG.targets)
    return run_backtest(inputs.features, inputs.targets, CONFIG, n_jobs=1)


@pytest.fixture(scope="module")
def logged(result: BacktestResult, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    uri = fresh_store(tmp_path_factory, "tracking")
    return uri, log_backtest(result, CONFIG, "f" * 64, uri=uri)


def test_run_holds_params_tags_and_metrics(logged: tuple[str, str], result: BacktestResult) -> None:
    from mlflow.tracking import MlflowClient

    uri, run_id = logged
    run = MlflowClient(tracking_uri=uri).get_run(run_id)
    assert run.data.params["backtest.retrain_every"] == "26"
    assert run.data.params["models"] == ",".join([*BASELINES, "xgb"])
    assert run.data.params["model_params.xgb.n_estimators"] == "15"
    assert run.data.tags[KIND_TAG] == "backtest"
    assert run.data.tags[DATA_TAG] == "f" * 64
    assert run.data.tags["civrisk.config_fingerprint"] == CONFIG.fingerprint()
    assert len(run.data.tags.get("civrisk.git_commit", "0" * 40)) >= 40
    m = run.data.metrics
    head = result.headline("civ_any", 4)
    metric = CONFIG.primary.metric
    assert set(m) == {"primary"}  # the parent is lean: every model's scores are in its child run
    assert m["primary"] == pytest.approx(head[metric].max())
    assert run.data.tags["civrisk.primary_model"] == head[metric].idxmax()


def test_each_model_has_a_nested_child_run_with_comparable_metric_names(logged, result) -> None:
    from mlflow.tracking import MlflowClient

    from experiments.tracking import PARENT_TAG

    uri, run_id = logged
    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(run_id)
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{run_id}'"
    )
    by_model = {c.data.tags["civrisk.model"]: c for c in children}
    assert set(by_model) == {*BASELINES, "xgb"}
    assert all(c.data.tags["mlflow.parentRunId"] == run_id for c in children)
    xgb = by_model["xgb"].data.metrics
    head = result.headline("civ_any", 4)
    assert xgb["civ_any/h4/brier_skill_best"] == pytest.approx(head.loc["xgb", "brier_skill_best"])
    assert "civ_any/h4/brier_skill_best_lo" in xgb and "civ_any/h4/brier_skill_best_hi" in xgb
    assert "civ_deaths/h1/crps" in by_model["climatology"].data.metrics
    assert set(xgb) <= set(by_model["climatology"].data.metrics) | {k for k in xgb if k.startswith("civ_any")}
    assert by_model["xgb"].data.params["param.n_estimators"] == "15"


def test_run_holds_artifacts_stored_locally(logged: tuple[str, str], result: BacktestResult) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    uri, run_id = logged
    client = MlflowClient(tracking_uri=uri)
    names = {f.path for f in client.list_artifacts(run_id)}
    assert {"forecasts.parquet", "actuals.parquet", "metrics.csv", "timings.csv", "figures"} <= names
    figures = {Path(f.path).name for f in client.list_artifacts(run_id, "figures")}
    assert {"reliability_civ_any_h4.png", "pr_civ_any_h4.png", "importance_xgb_civ_any_h4.png"} <= figures
    assert {"reliability_civ_any_h4_by_year.png", "reliability_civ_any_h4_by_quarter.png"} <= figures
    root = Path(uri.removeprefix("sqlite:///")).parent
    assert client.get_run(run_id).info.artifact_uri.startswith((root / "mlartifacts").as_uri())
    mlflow.set_tracking_uri(uri)
    forecasts = pd.read_parquet(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="forecasts.parquet")
    )
    assert len(forecasts) == len(result.forecasts)
    png = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="figures/pr_civ_any_h4.png"))
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_metrics_round_trip_and_run_lookup(logged: tuple[str, str], result: BacktestResult) -> None:
    uri, run_id = logged
    table = load_run_metrics(run_id, uri=uri)
    pd.testing.assert_frame_equal(
        table.drop(columns="value"), result.metrics.drop(columns="value"), check_dtype=False
    )
    assert find_backtest_run(CONFIG, "f" * 64, uri=uri) == run_id
    assert find_backtest_run(CONFIG, "0" * 64, uri=uri) is None


def test_fingerprint_and_metric_names(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x\n1\n")
    b.write_text("x\n2\n")
    assert data_fingerprint([a]) != data_fingerprint([b])
    assert data_fingerprint([tmp_path]) == data_fingerprint([a, b])
    with pytest.raises(FileNotFoundError, match="data file .*missing.csv does not exist"):
        data_fingerprint([tmp_path / "missing.csv"])
    assert metric_key("civ_any", 4, "all", "xgb", "brier", 2018) == "civ_any/h4/all/xgb/2018/brier"
    assert metric_key("civ_any", 4, "all", "m@1", "brier", pd.NA) == "civ_any/h4/all/m_1/brier"
