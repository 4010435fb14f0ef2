"""MLflow tracking: one run per backtest with the config, provenance, every score and the figures.

Run contents:
- params: the experiment config flattened (``data.countries = MLI,BFA,NER``, ``backtest.retrain_every``, ...);
- tags: ``civrisk.kind = backtest``, git commit (when the code is a git checkout), data fingerprint (sha256
  of the input files), config fingerprint, the primary metric and the model that scores best on it;
- metrics: ``<target>/h<h>/<subset>/<model>/<metric>`` overall and ``.../<model>/<year>/<metric>`` per test
  year (undefined scores are left out), plus ``primary`` (the best model's primary score);
- artifacts: forecasts.parquet, metrics.csv, timings.csv, notes.txt, reliability and precision-recall PNGs
  per binary target at the primary horizon, feature importances (CSV, and a PNG per primary target).

Callers pass the tracking URI (``Settings.resolved_tracking_uri()``: SQLite under the civrisk home;
``MLFLOW_TRACKING_URI`` overrides). For a SQLite store, artifacts go to ``mlartifacts/``
beside the database file. mlflow is imported inside functions so ``civrisk --help`` stays fast.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import re
import subprocess
import tempfile
import time
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from civrisk import __version__
from civrisk.atomic import write_csv_atomic, write_parquet_atomic, write_text_atomic
from civrisk.settings import PROJECT_ROOT
from forecasting.backtest import BacktestResult, primary_score, select_models
from forecasting.targets import TARGET_KINDS

if TYPE_CHECKING:
    from experiments.config import ExperimentConfig

KIND_TAG = "civrisk.kind"
CONFIG_TAG = "civrisk.config_fingerprint"
DATA_TAG = "civrisk.data_fingerprint"
GIT_TAG = "civrisk.git_commit"
PARENT_TAG = "civrisk.backtest_run"
"""A model's child run names its backtest's parent run (MLflow also nests it in the UI)."""
_ILLEGAL = re.compile(r"[^A-Za-z0-9_\-. /]")


def experiment_name(config_name: str) -> str:
    """Return the MLflow experiment that holds a config's runs."""
    return f"civrisk-{config_name}"


def use_tracking(uri: str) -> str:
    """Point mlflow at ``uri`` (callers take it from ``Settings.resolved_tracking_uri()``); return it."""
    import mlflow

    resolved = uri
    if resolved.startswith("sqlite:///"):
        Path(resolved.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(resolved)
    return resolved


def artifact_root(uri: str) -> str | None:
    """Return where a new experiment stores artifacts: ``mlartifacts/`` beside a SQLite store, else None."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
    return None


def ensure_experiment(name: str, uri: str) -> str:
    """Return the id of experiment ``name``, creating it (artifacts stored locally) if needed."""
    import mlflow

    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(mlflow.create_experiment(name, artifact_location=artifact_root(uri)))


def git_commit(root: Path = PROJECT_ROOT) -> str | None:
    """Return the checkout's commit (suffix ``-dirty`` with uncommitted changes), or None outside git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head


CODE_PACKAGES = ("civrisk", "ingest", "features", "forecasting", "experiments")
"""Packages whose code and rule files decide what a backtest or a trained model computes."""


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Return a sha256 over the source and rule files (.py, .toml, .csv) of CODE_PACKAGES: the code
    version that matters, dirty working trees included (a git commit alone would not see an edit)."""
    digest = hashlib.sha256(__version__.encode())
    for package in CODE_PACKAGES:
        root = Path(importlib.import_module(package).__file__ or "").parent
        for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".toml", ".csv")):
            digest.update(f"{package}/{path.relative_to(root).as_posix()}".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def data_fingerprint(paths: Iterable[Path]) -> str:
    """Return the sha256 over the input files' names and bytes (a folder: every file in it, sorted) and the
    code fingerprint (the actor rules and region aliases ship with it): same inputs and code, same value,
    so ``civrisk train`` reuses a backtest only when nothing that decides its numbers changed."""
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"data file {path} does not exist; cannot fingerprint the inputs")
    digest = hashlib.sha256(code_fingerprint().encode())
    for f in files:
        digest.update(f.name.encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def metric_key(
    target: str, horizon: int, subset: str, model: str, metric: str, year: int | float | None = None
) -> str:
    """Return an MLflow-legal metric name such as ``civ_any/h4/all/xgb/2018/brier``."""
    parts = [target, f"h{horizon}", subset, model]
    if year is not None and not pd.isna(year):
        parts.append(str(int(year)))
    parts.append(metric)
    return _ILLEGAL.sub("_", "/".join(str(p) for p in parts))


def log_backtest(
    result: BacktestResult,
    config: ExperimentConfig,
    data_fingerprint: str,
    *,
    uri: str,
    run_name: str | None = None,
) -> str:
    """Log a backtest as one MLflow run; return its run id."""
    import mlflow
    from mlflow.entities import Metric

    resolved = use_tracking(uri)
    exp_id = ensure_experiment(experiment_name(config.name), resolved)
    primary = config.primary
    best = select_models(result.metrics, primary.metric, primary.subset)[(primary.target, primary.horizon)]
    best_value = primary_score(
        result.metrics, best, primary.target, primary.horizon, primary.metric, primary.subset
    )
    tags = {
        KIND_TAG: "backtest",
        CONFIG_TAG: config.fingerprint(),
        DATA_TAG: data_fingerprint,
        "civrisk.config_name": config.name,
        "civrisk.primary_metric": _primary_label(config),
        "civrisk.primary_model": best,
    }
    commit = git_commit()
    if commit:
        tags[GIT_TAG] = commit
    client = mlflow.MlflowClient()
    now = int(time.time() * 1000)
    with mlflow.start_run(experiment_id=exp_id, run_name=run_name or f"backtest-{config.name}") as run:
        run_id = run.info.run_id
        mlflow.log_params(config.flat_params())
        mlflow.set_tags(tags)
        if not math.isnan(best_value):
            client.log_batch(run_id, metrics=[Metric("primary", best_value, now, 0)])
        with tempfile.TemporaryDirectory(prefix="civrisk-run-") as tmp:
            _write_artifacts(result, config, Path(tmp))
            mlflow.log_artifacts(tmp)
        # one child run per model with the same metric names, so the MLflow UI compares models side by side;
        # the full table (every year and subset) is the parent's metrics.csv artifact
        for model, rows in result.metrics.groupby("model", sort=True):
            with mlflow.start_run(experiment_id=exp_id, run_name=str(model), nested=True) as child:
                mlflow.set_tags({KIND_TAG: "backtest-model", PARENT_TAG: run_id, "civrisk.model": str(model)})
                mlflow.log_params({"model": str(model), **_model_params(config, str(model))})
                _log_metrics(client, child.info.run_id, _child_metrics(rows, now))
    return run_id


CHILD_METRICS = (
    "brier",
    "brier_skill_best",
    "base_rate",
    "roc_auc",
    "average_precision",
    "ece",
    "crps",
    "crps_samples",
    "coverage80",
)
"""Metrics each model's child run carries (overall, all rows; with ``_lo``/``_hi`` where bootstrapped)."""


def _child_metrics(rows: pd.DataFrame, now: int) -> list[Any]:
    """Return a model's headline metrics as MLflow Metric objects named ``<target>/h<h>/<metric>``."""
    from mlflow.entities import Metric

    sel = rows[rows["year"].isna() & (rows["subset"] == "all") & rows["metric"].isin(CHILD_METRICS)]
    out = []
    for r in sel.itertuples(index=False):
        base = f"{r.target}/h{r.horizon}/{r.metric}"
        for suffix, value in (("", r.value), ("_lo", r.lo), ("_hi", r.hi)):
            if not math.isnan(float(value)):
                out.append(Metric(base + suffix, float(value), now, 0))
    return out


def _log_metrics(client: Any, run_id: str, metrics: list[Any]) -> None:
    for start in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics per batch
        client.log_batch(run_id, metrics=metrics[start : start + 1000])


def _model_params(config: ExperimentConfig, model: str) -> dict[str, str]:
    return {f"param.{k}": str(v) for k, v in config.model_params.get(model, {}).items()}


def _primary_label(config: ExperimentConfig) -> str:
    p = config.primary
    return f"{p.metric} of {p.target} at h={p.horizon} ({p.subset})"


def _write_artifacts(result: BacktestResult, config: ExperimentConfig, out: Path) -> None:
    from experiments.plots import (
        importance_chart,
        precision_recall_curves,
        reliability_by_period,
        reliability_diagram,
    )

    write_parquet_atomic(result.forecasts, out / "forecasts.parquet")
    write_parquet_atomic(result.actuals, out / "actuals.parquet")
    write_csv_atomic(result.metrics, out / "metrics.csv")
    write_csv_atomic(result.timings, out / "timings.csv")
    write_text_atomic(out / "notes.txt", "\n".join(result.notes) + ("\n" if result.notes else ""))
    if config.source_path is not None and config.source_path.is_file():
        write_text_atomic(out / "config.toml", config.source_path.read_text(encoding="utf-8"))
    h = config.primary.horizon
    figures = out / "figures"
    figures.mkdir()
    for target in (t for t in config.targets if TARGET_KINDS[t] == "binary"):
        reliability_diagram(
            result.forecasts, result.actuals, target, h, figures / f"reliability_{target}_h{h}.png"
        )
        for period in ("year", "quarter"):
            reliability_by_period(
                result.forecasts,
                result.actuals,
                target,
                h,
                period,
                figures / f"reliability_{target}_h{h}_by_{period}.png",
            )
        precision_recall_curves(
            result.forecasts, result.actuals, target, h, figures / f"pr_{target}_h{h}.png"
        )
    imp = result.importances
    write_csv_atomic(imp, out / "feature_importance.csv")
    chosen = imp[(imp["target"] == config.primary.target) & (imp["horizon"] == h)]
    for model, grp in chosen.groupby("model", sort=True):
        importance_chart(grp, figures / f"importance_{model}_{config.primary.target}_h{h}.png")


def find_backtest_run(config: ExperimentConfig, data_fp: str, uri: str) -> str | None:
    """Return the newest finished backtest run of this config on this data, or None."""
    import mlflow

    use_tracking(uri)
    exp = mlflow.get_experiment_by_name(experiment_name(config.name))
    if exp is None:
        return None
    runs = mlflow.MlflowClient().search_runs(
        [exp.experiment_id],
        filter_string=(
            f"tags.`{KIND_TAG}` = 'backtest' and tags.`{CONFIG_TAG}` = '{config.fingerprint()}' "
            f"and tags.`{DATA_TAG}` = '{data_fp}' and attributes.status = 'FINISHED'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def load_run_metrics(run_id: str, uri: str) -> pd.DataFrame:
    """Return the tidy metrics table a backtest run stored (its ``metrics.csv`` artifact)."""
    import mlflow

    use_tracking(uri)
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="metrics.csv")
    table = pd.read_csv(local)
    table["year"] = table["year"].astype("Int64")
    return table
