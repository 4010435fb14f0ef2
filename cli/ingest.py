"""``civrisk ingest``: read UCDP/ACLED files into canonical events, a quarantine and a coverage table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ingest.layouts import LAYOUTS

if TYPE_CHECKING:
    from ingest.boundaries import Boundaries

from cli.errors import EXIT_BAD_INPUT

EXIT_STRICT = 3


def ingest_command(
    paths: list[Path] = typer.Argument(
        ...,
        help="UCDP or ACLED event files (.csv, .csv.gz, .zip with one CSV, .parquet).",
        show_default=False,
    ),
    out: Path = typer.Option(..., "--out", help="Folder for events.parquet, quarantine.csv, coverage.csv."),
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
    """Ingest event files: canonical events, quarantined rows with reasons, and coverage per country.

    Exit codes: 0 written; 1 unreadable file or missing columns; 3 refused by --strict (1, 3: no writes).
    """
    from ingest.layouts import LayoutError
    from ingest.pipeline import StrictModeError, ingest_files, strict_message, write_outputs
    from ingest.readers import ReadError
    from ingest.summary import format_summary

    try:
        regions = _load_boundaries(boundaries)
    except (FileNotFoundError, ValueError) as err:
        typer.echo(f"civrisk ingest: --boundaries: {err}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from err
    try:
        result = ingest_files(paths, forced=format, boundaries=regions)
        if strict and len(result.quarantine):
            raise StrictModeError(strict_message(result))
    except StrictModeError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(EXIT_STRICT) from err
    except (LayoutError, ReadError, FileNotFoundError) as err:
        typer.echo(f"civrisk ingest: {err}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from err
    write_outputs(result, out)
    typer.echo(format_summary(result, out))


def _load_boundaries(path: Path | None) -> Boundaries | None:
    """Return admin-1 boundaries from ``path``, else the configured/shared default, else None."""
    from ingest.boundaries import default_boundaries_path, load_boundaries

    if path is not None:
        return load_boundaries(path)
    return load_boundaries() if default_boundaries_path() is not None else None
