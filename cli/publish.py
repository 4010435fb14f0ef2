"""``civrisk publish``, ``verify`` and ``demo``: thin wiring over publish.publication.week, .verify and .demo.

Heavy imports (pandas, mlflow, xgboost) happen inside the commands so ``civrisk --help`` stays fast.
Exit codes: 0 done; 1 bad input or nothing to do (the message says why); 2 usage errors (typer).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from civrisk.settings import get_settings

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from publish.publication.week import PublishResult

EXIT_FAILED = 1
WEEK_OPT = typer.Option(..., "--week", help="ISO week to publish, e.g. 2020-W23 (or its Monday, 2020-06-01).")
EVENTS_OPT = typer.Option(
    None, "--events", help="An ingested events folder (civrisk ingest); default: the model config's data."
)


def publish_command(
    week: str = WEEK_OPT,
    as_of: str | None = typer.Option(
        None, "--as-of", help="Data cut-off date (default: the week's Monday); data after it are ignored."
    ),
    model_version: str | None = typer.Option(
        None, "--model-version", help="Registered model version to publish with (default: the champion)."
    ),
    events: Path | None = EVENTS_OPT,
    exercise: bool = typer.Option(
        False, "--exercise", help="Mark the CAP alerts as an exercise (status Exercise), not actual alerts."
    ),
) -> None:
    """Publish one week: scores of the champion model, alerts (CAP 1.2), HXL/GeoJSON/JSON exports, report."""
    from rich.console import Console

    from publish.publication.week import LookaheadError, NothingToPublish, PublishOptions, publish_week
    from publish.store.errors import StoreError
    from publish.store.score_rows import ScoresInputError

    console = Console()
    options = PublishOptions(cap_status="Exercise" if exercise else "Actual")
    try:
        cut = date.fromisoformat(as_of) if as_of is not None else None
        with console.status(f"publishing {week}"):
            result = publish_week(week, cut, model_version, events, settings=get_settings(), options=options)
    except (
        LookupError,
        NothingToPublish,
        LookaheadError,
        ScoresInputError,
        ValueError,
        OSError,
        StoreError,
    ) as err:
        typer.echo(f"civrisk publish: {err}", err=True)
        raise typer.Exit(EXIT_FAILED) from err
    print_publication(result, console)


def verify_command(
    week: str = WEEK_OPT,
    revision: int | None = typer.Option(None, "--revision", min=1, help="Revision (default: the latest)."),
    events: Path | None = EVENTS_OPT,
) -> None:
    """Score a past publication against what happened once the data cover its forecast windows."""
    import pandas as pd

    from publish.publication.verify import verify_week
    from publish.store.errors import StoreError

    try:
        result = verify_week(week, revision, events, settings=get_settings())
    except (LookupError, ValueError, FileNotFoundError, StoreError) as err:
        typer.echo(f"civrisk verify: {err}", err=True)
        raise typer.Exit(EXIT_FAILED) from err
    pub = result.publication
    wide = result.table.pivot_table(index=["target", "horizon"], columns="metric", values="value")
    wide["n"] = result.table.groupby(["target", "horizon"])["n"].max()
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        typer.echo(wide.to_string())
    state = "recorded" if result.recorded else "already recorded (same values)"
    typer.echo(f"verification of {pub.week_label} revision {pub.revision}: {state}")


def demo_command(
    quick: bool = typer.Option(False, "--quick", help="One real model and one test year (about a minute)."),
) -> None:
    """The main job on real data: ingest, backtest, register the champion, publish, verify, report."""
    import time

    from rich.console import Console

    from forecasting.targets import HEADLINE_TARGET
    from operations.demo import run_demo

    console = Console()
    t0 = time.perf_counter()
    result = run_demo(get_settings(), quick=quick, console=console)
    if result.earlier is not None:
        console.print(f"earlier week: {_where(result.earlier)}", highlight=False)
    if result.verification is not None:
        v = result.verification.table
        row = v[(v["target"] == HEADLINE_TARGET) & (v["metric"] == "brier")]
        text = ", ".join(f"h{h} {x:.3f}" for h, x in zip(row["horizon"], row["value"], strict=True))
        console.print(f"verified {result.verification.publication.week_label}: Brier of civ_any {text}")
    print_publication(result.latest, console)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    took = time.perf_counter() - t0
    console.print(f"demo finished in {took:.0f} s; report: {result.report.resolve()}", highlight=False)


def print_publication(result: PublishResult, console: Console) -> None:
    """Print what was published, the top-risk regions and where the files are."""
    pub = result.publication
    what = "published" if result.created else "already published (same model and data)"
    if result.rebuilt:
        what += "; its files were missing and were written again"
    console.print(
        f"{pub.week_label} revision {pub.revision}: {what}; model {pub.model_name} v{pub.model_version}, "
        f"{pub.n_scores:,} scores, data through {result.cutoff.last_day.date()}",
        highlight=False,
    )
    if result.withheld:
        console.print(f"scores withheld (data out of date): {', '.join(result.withheld)}", highlight=False)
    kinds = result.alerts["msg_type"].value_counts().to_dict() if len(result.alerts) else {}
    console.print(f"alerts: {kinds or 'none'}; files: {_where(result)}", highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(top_table(result.top, result.horizon, result.previous_week))


def top_table(top: pd.DataFrame, horizon: int, previous_week: str | None = None) -> object:
    """Return a rich Table of the top-risk regions."""
    import math

    from rich.table import Table

    weeks = "week" if horizon == 1 else f"{horizon} weeks"
    table = Table(title=f"Highest risk: chance civilians are killed within {weeks}")
    for col, justify in (
        ("#", "right"),
        ("Region", "left"),
        ("Country", "left"),
        (f"P(civilians killed within {weeks})", "right"),
        (f"Change since {previous_week}" if previous_week else "Change", "right"),
        ("Main perpetrator group", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in top.itertuples(index=False):
        points = None if math.isnan(r.change) else round(r.change * 100)
        change = "new" if points is None else "0 pts" if points == 0 else f"{points:+d} pts"
        group = f"{r.main_group} ({r.p_group:.0%})" if r.main_group else "-"
        table.add_row(str(r.rank), str(r.region), str(r.country), f"{r.p:.0%}", change, group)
    return table


def _where(result: PublishResult) -> str:
    return str(result.folder)
