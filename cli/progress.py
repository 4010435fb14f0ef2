"""Progress bars for long commands: one step per unit of work, with the time left estimated (rich)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def unit_progress(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """Yield a callback ``(done, total, label)`` that advances a progress bar with elapsed time and an ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[last]}"),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(description, total=None, last="")

        def advance(done: int, total: int, label: str) -> None:
            bar.update(task, total=total, completed=done, last=f"done: {label}")

        yield advance
