"""MLflow as a team runs it (docs/DEPLOY.md): ``mlflow server`` on a PostgreSQL backend store with a shared
artifact root, started on loopback; civrisk's tracking and registry code talk to it over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from experiments.config import DataConfig, ExperimentConfig
from experiments.registry import list_versions, load_champion, register_bundle
from experiments.tracking import find_backtest_run, load_run_metrics, log_backtest
from forecasting.backtest import run_backtest
from forecasting.bundle import fit_bundle
from forecasting.plan import BacktestConfig
from tests.backtest_fixtures import make_inputs
from tests.store_backends import pg_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CONFIG = ExperimentConfig(
    name="team-server",
    data=DataConfig(events=Path("/nonexistent/events")),
    targets=("civ_any",),
    horizons=(4,),
    models=("logistic",),
    backtest=BacktestConfig(test_years=(2019, 2019), retrain_every=26),
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Yield (tracking URI, artifact root) of an ``mlflow server`` on PostgreSQL, stopped afterwards."""
    server = pg_server()
    db = f"civrisk_mlflow_{uuid.uuid4().hex[:8]}"
    with server.admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    artifacts = tmp_path_factory.mktemp("shared-artifacts")
    port = _free_port()
    log = (tmp_path_factory.mktemp("mlflow-log") / "server.log").open("wb")
    argv = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", server.url(db)),
        *("--artifacts-destination", artifacts.as_uri()),
        "--serve-artifacts",
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # first start creates MLflow's schema in PostgreSQL
        while True:
            try:
                if httpx.get(f"{uri}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start (exit {proc.poll()}); see {log.name}")
            time.sleep(0.5)
        yield uri, artifacts
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()
        server.drop(server.url(db))


def test_backtest_runs_and_champion_through_a_team_mlflow_server(mlflow_server: tuple[str, Path]) -> None:
    from mlflow.tracking import MlflowClient

    uri, artifacts = mlflow_server
    inputs = make_inputs(horizons=CONFIG.horizons, targets=CONFIG.targets)
    result = run_backtest(inputs.features, inputs.targets, CONFIG, n_jobs=1)
    run_id = log_backtest(result, CONFIG, "a" * 64, uri=uri)

    # the runs read back over HTTP: params, metrics, and artifacts in the shared root
    run = MlflowClient(tracking_uri=uri).get_run(run_id)
    # the config's models and the baselines every backtest adds (recomputed at each origin)
    assert run.data.params["models"] == "climatology,recent_climatology,persistence,conflictology,logistic"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    table = load_run_metrics(run_id, uri=uri)
    pd.testing.assert_frame_equal(
        table.drop(columns="value"), result.metrics.drop(columns="value"), check_dtype=False
    )
    assert find_backtest_run(CONFIG, "a" * 64, uri=uri) == run_id
    stored = {p.name for p in artifacts.rglob("*") if p.is_file()}
    assert {"forecasts.parquet", "metrics.csv"} <= stored  # written by the server, under the shared root

    # the registry: the champion alias moves and loads as it does on a local store
    data_end = pd.Timestamp("2019-06-24")
    chosen = {("civ_any", 4): "logistic"}
    bundle = fit_bundle(
        inputs.features, inputs.targets, chosen, data_end, CONFIG.model_copy(update={"seed": 5})
    )
    example = inputs.features[inputs.features["week"] <= data_end]
    first = register_bundle(bundle, CONFIG, 0.2, run_id, "a" * 64, example, uri=uri, name="civrisk-team")
    second = register_bundle(bundle, CONFIG, 0.1, run_id, "a" * 64, example, uri=uri, name="civrisk-team")
    assert (first.version, first.champion_moved, second.champion_moved) == ("1", True, False)
    assert list_versions(uri=uri, name="civrisk-team")["aliases"].tolist() == ["champion", ""]
    champion = load_champion(uri=uri, name="civrisk-team")
    assert champion.version == "1" and champion.data_end == data_end
    origin = inputs.features[inputs.features["week"] == data_end + pd.Timedelta(weeks=1)]
    np.testing.assert_allclose(
        champion.predict(origin)["p"].to_numpy(), bundle.predict(origin)["p"].to_numpy()
    )
