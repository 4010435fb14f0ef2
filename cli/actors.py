"""``civrisk actors``: list the actors no rule classifies, most deaths first, so rules can be added."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # pandas loads on use, so `civrisk --help` stays fast
    import pandas as pd


def read_events(path: Path) -> pd.DataFrame:
    """Return the events table stored at ``path``: a parquet file, or a folder holding ``events.parquet``
    or parquet parts of one events table.

    Raises FileNotFoundError / ValueError saying what was found and what is expected.
    """
    import pandas as pd

    from ingest.actors import UNCLASSIFIED_COLUMNS

    path = Path(path)
    if path.is_file():
        return pd.read_parquet(path)
    if not path.is_dir():
        raise FileNotFoundError(f"--events {path} does not exist; pass the folder `civrisk ingest` wrote")
    if (path / "events.parquet").exists():
        return pd.read_parquet(path / "events.parquet")
    parts = sorted(path.glob("*.parquet"))
    if not parts and any(path.rglob("*.parquet")):
        return pd.read_parquet(path)  # a partitioned dataset (e.g. source=acled/part-0.parquet)
    if not parts:
        raise FileNotFoundError(
            f"--events {path} holds no parquet files; expected events.parquet or parquet parts of the "
            "canonical events table"
        )
    import pyarrow.parquet as pq

    usable = [p for p in parts if set(UNCLASSIFIED_COLUMNS) <= set(pq.read_schema(p).names)]
    if not usable:
        raise ValueError(
            f"--events {path}: none of {[p.name for p in parts]} is an events table "
            f"(each lacks some of {list(UNCLASSIFIED_COLUMNS)})"
        )
    skipped = [p.name for p in parts if p not in usable]
    if skipped:
        typer.echo(f"not events tables, left out: {skipped}", err=True)
    return pd.concat([pd.read_parquet(p) for p in usable], ignore_index=True)


def actors_command(
    events: Path | None = typer.Option(
        None, "--events", help="Events parquet file, or the folder holding it (default: the events store)."
    ),
    top: int = typer.Option(20, "--top", min=1, help="How many unclassified actors to show."),
) -> None:
    """List unclassified actors and UCDP placeholders (XXX436) with the most deaths (docs/ACTORS.md)."""
    from rich.console import Console
    from rich.table import Table

    from ingest.actors import LISTED_CLASSES, unclassified_actors

    if events is None:
        from civrisk.settings import get_settings
        from ingest.event_store import events_dir

        events = events_dir(get_settings())
    try:
        frame = read_events(events)
        table = unclassified_actors(frame, LISTED_CLASSES)
    except (FileNotFoundError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=2) from err
    console = Console()
    total = int(frame["deaths_best"].sum())
    if table.empty:
        console.print(f"Every actor in {len(frame):,} events is classified.")
        return
    shown = table.head(top)
    out = Table(title=f"Unclassified and placeholder actors (top {len(shown)} of {len(table)}, by deaths)")
    out.add_column("actor", no_wrap=True)  # names are what users copy into rules: never wrapped
    for name, justify in (("source", "left"), ("class", "left"), ("events", "right")):
        out.add_column(name, justify=justify)  # type: ignore[arg-type]
    out.add_column("deaths_best", justify="right")
    out.add_column("deaths_civilians", justify="right")
    for row in shown.itertuples(index=False):
        out.add_row(
            str(row.actor),
            str(row.source),
            str(row.cls),
            f"{row.events:,}",
            f"{row.deaths_best:,}",
            f"{row.deaths_civilians:,}",
        )
    console.print(out)
    for cls, advice in (
        ("unclassified", "Add rules in a TOML file set by CIVRISK_ACTOR_RULES (see docs/ACTORS.md)."),
        ("placeholder", "UCDP codes them in a later release; they count as other/unknown until then."),
    ):
        n = int((table["cls"] == cls).sum())
        if n:
            touched = (frame["side_a_class"] == cls) | (frame["side_b_class"] == cls)
            share = frame.loc[touched.fillna(False).to_numpy(), "deaths_best"].sum() / total if total else 0.0
            console.print(
                f"{n} {cls} actors; events naming them hold {share:.2%} of {total:,} deaths. {advice}"
            )
