"""``civrisk fetch ...``: download official UCDP releases into the local cache (thin wiring over fetch)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ingest.fetch import Release

fetch_app = typer.Typer(
    help="Download official data releases (UCDP GED, UCDP Candidate) into the local cache.",
    no_args_is_help=True,
)

_DEST_HELP = (
    "Folder to put the file in (default: the download cache, CIVRISK_DOWNLOADS_DIR or .civrisk/downloads)."
)
_FORCE_HELP = "Download again even when a good copy is cached."


@fetch_app.command("ucdp-ged")
def fetch_ucdp_ged(
    version: str = typer.Option(
        ..., "--version", help="GED yearly release, e.g. 25.1 (file ged251-csv.zip)."
    ),
    dest: Path | None = typer.Option(None, "--dest", help=_DEST_HELP),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
) -> None:
    """Download a UCDP GED yearly release (zip of the 49-column events CSV) and print its path."""
    from ingest.fetch import ged_release

    _run("GED", version, dest, force, ged_release)


@fetch_app.command("ucdp-candidate")
def fetch_ucdp_candidate(
    version: str = typer.Option(
        ..., "--version", help="Candidate release: monthly like 23.0.10, or cumulative like 26.01.26.06."
    ),
    dest: Path | None = typer.Option(None, "--dest", help=_DEST_HELP),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
) -> None:
    """Download a UCDP Candidate events release (CSV) and print its path."""
    from ingest.fetch import candidate_release

    _run("Candidate", version, dest, force, candidate_release)


def _run(
    kind: str,
    version: str,
    dest: Path | None,
    force: bool,
    make_release: Callable[[str, str], Release],
) -> None:
    """Resolve settings, fetch, report on stderr and print the local path on stdout."""
    from rich.console import Console

    from civrisk.settings import get_settings
    from ingest.fetch import FetchError, fetch_release

    settings = get_settings()
    err = Console(stderr=True)
    try:
        release = make_release(version, settings.ucdp_base_url)
        folder = dest if dest is not None else settings.resolved_downloads_dir()
        got = fetch_release(release, folder, force=force, console=err)
    except FetchError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from exc
    how = "cached" if got.from_cache else "downloaded"
    err.print(
        f"UCDP {kind} {release.version}: {how} {got.path} ({got.size:,} bytes, sha256 {got.sha256[:16]}, "
        f"CSV {got.csv_name})",
        highlight=False,
        soft_wrap=True,
    )
    typer.echo(str(got.path))
