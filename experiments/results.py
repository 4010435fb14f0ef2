"""``python -m experiments.results``: regenerate docs/RESULTS.md from backtests, never by hand.

Each results config is backtested through the code path of ``civrisk backtest`` (inputs from the config,
``run_backtest``, one MLflow run per backtest via ``log_backtest``); the run also gets the forecast summary
(base rates, onset counts, mean forecasts) and the run's timings as ``results/`` artifacts, so that
``--from-mlflow`` can render the same file later from the newest finished run of each config on the same
data, without re-running anything. The markdown itself comes from ``experiments.results_tables``, a pure
function of those tables.

    python -m experiments.results                       # the five results configs -> docs/RESULTS.md
    python -m experiments.results --configs results_sahel_admin1 --out /tmp/RESULTS.md
    python -m experiments.results --from-mlflow         # render from the latest runs, no backtest
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from civrisk.atomic import write_csv_atomic, write_text_atomic
from civrisk.settings import PROJECT_ROOT, Settings
from experiments.config import ExperimentConfig, load_config
from experiments.inputs import input_files
from experiments.results_tables import BacktestRecord, Header, forecast_summary, render_results

log = logging.getLogger(__name__)

RESULTS_CONFIGS = (
    "results_sahel_admin1",
    "results_mali_forward",
    "results_sahel_grid",
    "results_ucdp_bfa_admin1",
    "results_ucdp_nga_admin1",
    "results_ucdp_caf_admin1",
)
"""The backtests docs/RESULTS.md shows, in its order."""

DEFAULT_OUT = PROJECT_ROOT / "docs" / "RESULTS.md"
SUMMARY_ARTIFACT = "results/forecast_summary.csv"
META_ARTIFACT = "results/meta.json"


class ResultsError(RuntimeError):
    """A results backtest could not be run or found."""


def config_description(text: str) -> str:
    """Return the comment block at the top of a config file as markdown (the config says why).

    Comment lines are joined into a paragraph; a line starting with ``- `` starts a list item.
    """
    blocks: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        body = line.lstrip("#").strip()
        if not body:
            continue
        if body.startswith("- ") or not blocks:
            blocks.append(body)
        else:
            blocks[-1] += " " + body
    parts = [("\n" if b.startswith("- ") else "\n\n") + b for b in blocks]
    return "".join(parts).lstrip("\n")


def _description(cfg: ExperimentConfig) -> str:
    path = cfg.source_path
    return config_description(path.read_text(encoding="utf-8")) if path is not None else ""


def run_record(name: str, command: str, uri: str, settings: Settings) -> BacktestRecord:
    """Backtest one config as ``civrisk backtest`` does, log it to MLflow and return its record."""
    from experiments.config import load_config
    from experiments.inputs import prepare_inputs
    from experiments.tracking import log_backtest
    from forecasting.backtest import run_backtest  # what `civrisk backtest` runs

    t0 = time.perf_counter()
    cfg = load_config(name, settings)
    inputs = prepare_inputs(cfg)
    t1 = time.perf_counter()
    result = run_backtest(inputs.features, inputs.targets, cfg)
    t2 = time.perf_counter()
    log.info("%s: inputs %.0f s, backtest %.0f s; logging to MLflow", cfg.name, t1 - t0, t2 - t1)
    run_id = log_backtest(result, cfg, inputs.fingerprint, uri=uri)
    summary = forecast_summary(result.forecasts, result.actuals)
    meta = {
        "inputs_seconds": round(t1 - t0, 1),
        "backtest_seconds": round(t2 - t1, 1),
        "n_regions": int(inputs.panel["region_id"].nunique()),
        "n_notes": len(result.notes),
        "panel_summary": inputs.panel_summary,
        "command": command,
        "git_commit": _commit(),
    }
    _log_extras(run_id, summary, meta, uri)
    return _record(cfg, result.metrics, summary, inputs.fingerprint, run_id, meta)


def _log_extras(run_id: str, summary: pd.DataFrame, meta: dict[str, object], uri: str) -> None:
    import mlflow

    from experiments.tracking import use_tracking

    use_tracking(uri)
    client = mlflow.MlflowClient()
    with tempfile.TemporaryDirectory(prefix="civrisk-results-") as tmp:
        write_csv_atomic(summary, Path(tmp) / Path(SUMMARY_ARTIFACT).name)
        write_text_atomic(Path(tmp) / Path(META_ARTIFACT).name, json.dumps(meta, indent=2))
        client.log_artifacts(run_id, tmp, artifact_path=str(Path(SUMMARY_ARTIFACT).parent))
    client.set_tag(run_id, "civrisk.results.backtest_seconds", str(meta["backtest_seconds"]))


def read_record(name: str, uri: str, settings: Settings) -> BacktestRecord:
    """Return the record of the newest finished MLflow backtest of a config on its current data."""
    import mlflow

    from experiments.tracking import data_fingerprint, find_backtest_run, load_run_metrics, use_tracking

    cfg = load_config(name, settings)
    fingerprint = data_fingerprint(input_files(cfg))
    run_id = find_backtest_run(cfg, fingerprint, uri=uri)
    if run_id is None:
        raise ResultsError(
            f"no finished backtest of config {cfg.name} (config {cfg.fingerprint()[:12]}, data "
            f"{fingerprint[:12]}) in MLflow store {use_tracking(uri)}; run it first: "
            f"python -m experiments.results --configs {cfg.name}"
        )
    metrics = load_run_metrics(run_id, uri=uri)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "results")}
    summary, meta = None, {}
    if SUMMARY_ARTIFACT in artifacts and META_ARTIFACT in artifacts:
        summary = pd.read_csv(
            mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=SUMMARY_ARTIFACT)
        )
        summary = summary.astype({"year": "Int64", "model": "string", "target": "string", "subset": "string"})
        meta = json.loads(
            Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=META_ARTIFACT)).read_text()
        )
    else:
        log.warning(
            "run %s of %s was logged without %s (by civrisk backtest?): no base rates or runtimes",
            run_id,
            cfg.name,
            SUMMARY_ARTIFACT,
        )
    return _record(cfg, metrics, summary, fingerprint, run_id, meta)


def _record(
    cfg: ExperimentConfig,
    metrics: pd.DataFrame,
    summary: pd.DataFrame | None,
    fingerprint: str,
    run_id: str,
    meta: dict[str, object],
) -> BacktestRecord:
    def number(key: str) -> float:
        value = meta.get(key)
        return float(value) if isinstance(value, int | float) else float("nan")

    return BacktestRecord(
        config=cfg,
        metrics=metrics,
        summary=summary,
        data_fingerprint=fingerprint,
        input_files=tuple(p.name for p in input_files(cfg)),
        run_id=run_id,
        inputs_seconds=number("inputs_seconds"),
        backtest_seconds=number("backtest_seconds"),
        n_regions=int(number("n_regions")) if "n_regions" in meta else -1,
        n_notes=int(number("n_notes")) if "n_notes" in meta else -1,
        description=_description(cfg),
        commit=str(meta.get("git_commit", "not recorded")),
        command=str(meta.get("command", "not recorded")),
    )


def _commit() -> str:
    from experiments.tracking import git_commit

    return git_commit() or "not a git checkout"


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or read) the results backtests and write RESULTS.md; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="python -m experiments.results", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--configs", nargs="+", default=list(RESULTS_CONFIGS), help="Config names or files.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown file to write.")
    parser.add_argument(
        "--from-mlflow", action="store_true", help="Render the latest MLflow runs; run nothing."
    )
    parser.add_argument(
        "--tracking-uri", default=None, help="MLflow tracking URI (default: civrisk settings)."
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    from civrisk.settings import get_settings
    from experiments.tracking import use_tracking

    settings = get_settings()
    command = shlex.join(["python", "-m", "experiments.results", *argv])
    uri = use_tracking(args.tracking_uri or settings.resolved_tracking_uri())
    records = []
    for name in args.configs:
        t0 = time.perf_counter()
        try:
            record = (
                read_record(name, uri, settings)
                if args.from_mlflow
                else run_record(name, command, uri, settings)
            )
        except ResultsError as exc:
            log.error("%s", exc)
            return 1
        log.info("%s done in %.0f s (MLflow run %s)", name, time.perf_counter() - t0, record.run_id)
        records.append(record)
    header = Header(
        commit=_commit(),
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=command,
        tracking_uri=uri,
        rendered_from_mlflow=args.from_mlflow,
    )
    write_text_atomic(args.out, render_results(records, header))
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
