"""``civrisk ingest``: add UCDP/ACLED files to an events store (canonical events, quarantine, coverage)."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.errors import EXIT_BAD_INPUT
from ingest.layouts import LAYOUTS

EXIT_STRICT = 3


def ingest_command(
    paths: list[Path] = typer.Argument(
        ...,
        help="UCDP or ACLED event files (.csv, .csv.gz, .zip with one CSV, .parquet).",
        show_default=False,
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Events store to add to (default: $CIVRISK_HOME/events); a new folder becomes a new store.",
        show_default=False,
    ),
    format: str | None = typer.Option(
        None,
        "--format",
        help=f"Force a layout instead of detecting it from the header: {', '.join(LAYOUTS)}.",
    ),
    strict: bool = typer.Option(
        False, "--strict", help=f"Exit with code {EXIT_STRICT} and write nothing if any row is quarantined."
    ),
    boundaries: Path | None = typer.Option(
        None,
        "--boundaries",
        help="Admin-1 GeoJSON for regions (default: CIVRISK_BOUNDARIES, else the shared Sahel file).",
    ),
) -> None:
    """Add event files to an events store: canonical events, quarantined rows with reasons, coverage.

    Every call adds to the store (newer versions of an event supersede older ones, docs/EVENTS.md); a file
    already in the store is skipped. Exit codes: 0 written (or nothing new); 1 unreadable file, missing
    columns or unusable --out; 3 refused by --strict (1, 3: nothing written).
    """
    from civrisk.settings import get_settings
    from ingest.boundaries import BoundariesError
    from ingest.event_store import EventStoreError, IngestOptions, add_files
    from ingest.layouts import LayoutError
    from ingest.pipeline import StrictModeError
    from ingest.readers import ReadError
    from ingest.summary import format_store_summary

    if boundaries is not None and not boundaries.is_file():
        typer.echo(
            f"civrisk ingest: --boundaries: admin-1 boundaries file {boundaries} does not exist", err=True
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    options = IngestOptions(forced=format, boundaries=boundaries, strict=strict)
    try:
        delta = add_files(paths, get_settings(), folder=out, options=options)
    except StrictModeError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(EXIT_STRICT) from err
    except (LayoutError, ReadError, FileNotFoundError, EventStoreError, BoundariesError) as err:
        typer.echo(f"civrisk ingest: {err}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from err
    typer.echo(format_store_summary(delta))
