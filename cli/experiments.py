"""``civrisk backtest``, ``train`` and ``models``: thin wiring over the backtest, tracking and registry.

Heavy imports (pandas, sklearn, xgboost, mlflow) happen inside the commands so ``civrisk --help`` stays fast.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from civrisk.settings import Settings, get_settings
from cli.errors import one_line_errors
from cli.progress import unit_progress

if TYPE_CHECKING:
    import pandas as pd

    from experiments.config import ExperimentConfig
    from experiments.inputs import Inputs

CONFIG_ARG = typer.Argument(
    ..., help="Experiment config: a TOML file or a shipped name (sahel_admin1, quick)."
)
URI_OPT = typer.Option(
    None, "--tracking-uri", help="MLflow tracking URI (default: SQLite under civrisk home)."
)


def _load(config: str, settings: Settings) -> tuple[ExperimentConfig, Inputs]:
    from experiments.config import load_config
    from experiments.inputs import prepare_inputs

    cfg = load_config(config, settings)
    t0 = time.perf_counter()
    inputs = prepare_inputs(cfg)
    typer.echo(inputs.panel_summary)
    typer.echo(
        f"inputs ready in {time.perf_counter() - t0:.1f}s: {len(inputs.features):,} origin rows x "
        f"{inputs.features.shape[1] - 3} features, {len(inputs.targets):,} labels; "
        f"data {inputs.fingerprint[:12]}"
    )
    return cfg, inputs


def backtest_command(
    config: str = CONFIG_ARG,
    tracking_uri: str | None = URI_OPT,
    track: bool = typer.Option(True, "--track/--no-track", help="Log the run to MLflow."),
    out: Path | None = typer.Option(None, "--out", help="Also write forecasts.parquet and metrics.csv here."),
) -> None:
    """Run the rolling-origin backtest of an experiment config and log it to MLflow."""
    from civrisk.atomic import write_csv_atomic, write_parquet_atomic
    from experiments.backtest import summary_table
    from experiments.tracking import log_backtest
    from experiments.training import backtest_alert_lines
    from forecasting.backtest import run_backtest

    settings = get_settings()
    uri = tracking_uri or settings.resolved_tracking_uri()
    with one_line_errors("backtest"):
        cfg, inputs = _load(config, settings)
    t0 = time.perf_counter()
    with unit_progress("backtest (target x horizon units)") as on_unit:
        result = run_backtest(inputs.features, inputs.targets, cfg, on_unit=on_unit)
    typer.echo(f"backtest finished in {time.perf_counter() - t0:.1f}s\n")
    typer.echo(summary_table(result, cfg))
    typer.echo("\n" + "\n".join(backtest_alert_lines(result, inputs, cfg)))
    if result.notes:
        typer.echo(f"\n{len(result.notes)} notes, e.g. {result.notes[0]}")
    if out is not None:
        write_parquet_atomic(result.forecasts, out / "forecasts.parquet")
        write_csv_atomic(result.metrics, out / "metrics.csv")
        typer.echo(f"wrote {out / 'forecasts.parquet'} and {out / 'metrics.csv'}")
    if track:
        run_id = log_backtest(result, cfg, inputs.fingerprint, uri=uri)
        typer.echo(f"MLflow run {run_id}")


def train_command(
    config: str = CONFIG_ARG,
    register: bool = typer.Option(False, "--register", help="Register the bundle in the MLflow registry."),
    force: bool = typer.Option(False, "--force", help="Make the new version champion whatever its score."),
    cutoff: str | None = typer.Option(
        None,
        "--cutoff",
        help="Last data week to train on (date or ISO week; default: the panel's last week).",
    ),
    tracking_uri: str | None = URI_OPT,
) -> None:
    """Fit the best backtested model per target x horizon on all data up to the cutoff; optionally register.

    Models are chosen by the config's backtest (reused from MLflow when one exists for the same config and
    data, else run and logged now): per binary target the best primary metric, for counts the best CRPS.
    The alert levels are chosen on the same backtest and travel in the bundle (docs/PUBLISHING.md).
    """
    import pandas as pd

    from civrisk.weeks import parse_week
    from experiments.registry import register_bundle
    from experiments.training import level_lines, train_bundle

    settings = get_settings()
    uri = tracking_uri or settings.resolved_tracking_uri()
    with one_line_errors("train"):
        week = pd.Timestamp(parse_week(cutoff)) if cutoff else None
        cfg, inputs = _load(config, settings)
    trained = train_bundle(cfg, inputs, uri, _data_end(inputs, week), echo=typer.echo, progress=unit_progress)
    bundle, data_end, value = trained.bundle, trained.data_end, trained.primary_value
    typer.echo(_chosen_text(bundle.chosen, data_end, cfg.primary.metric, value))
    typer.echo("\n".join(level_lines(bundle.alert_levels)))
    if not register:
        typer.echo("not registered (add --register)")
        return
    example = inputs.features[inputs.features["week"] <= data_end]
    name = settings.registered_model_name
    reg = register_bundle(
        bundle, cfg, value, trained.run_id, inputs.fingerprint, example, force=force, uri=uri, name=name
    )
    moved = "is now champion" if reg.champion_moved else "is not champion"
    typer.echo(f"registered {reg.name} v{reg.version}; it {moved}: {reg.reason}")


def _data_end(inputs: Inputs, cutoff: pd.Timestamp | None) -> pd.Timestamp:
    last = inputs.last_week
    if cutoff is None:
        return last
    first = inputs.panel["week"].min()
    if not first <= cutoff <= last:
        raise typer.BadParameter(
            f"--cutoff {cutoff.date()} is outside the panel's weeks {first.date()} .. {last.date()}"
        )
    return cutoff


def _chosen_text(
    chosen: dict[tuple[str, int], str], data_end: pd.Timestamp, metric: str, value: float
) -> str:
    lines = [f"fitted on data through the week of {data_end.date()}:"]
    lines += [f"  {t} h={h}: {m}" for (t, h), m in sorted(chosen.items())]
    lines.append(f"primary backtest score ({metric}): {value:.4f}")
    return "\n".join(lines)


def models_command(tracking_uri: str | None = URI_OPT) -> None:
    """List registered forecast bundles: versions, aliases, data end and primary backtest score."""
    import pandas as pd

    from experiments.registry import list_versions

    settings = get_settings()
    table = list_versions(tracking_uri or settings.resolved_tracking_uri(), settings.registered_model_name)
    if table.empty:
        typer.echo("no registered models yet; run civrisk train CONFIG --register")
        return
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        typer.echo(table.to_string(index=False))
