"""``civrisk weekly [--today DATE] [--loop --every 7d]``: one weekly cycle, or the in-process scheduler
(operations.schedule).

See operations.schedule for the run times and how signals stop the loop.
"""

from __future__ import annotations

import sys
import threading
from datetime import date

import typer


def weekly_command(
    today: str | None = typer.Option(
        None, "--today", help="Run as if today were DATE (YYYY-MM-DD): publish that date's ISO week."
    ),
    loop: bool = typer.Option(
        False, "--loop", help="Keep running: a cycle now, then one at each run time until SIGTERM."
    ),
    every: str | None = typer.Option(
        None,
        "--every",
        help="With --loop: time between cycles (7d, 1d, 12h; default 7d), from CIVRISK_WEEKLY_RUN_AT.",
    ),
) -> None:
    """Run the weekly cycle: fetch (if configured), ingest the drop folder, publish, verify, deliver alerts.

    Exit codes: 0 every step ok; 1 a step failed (the report says which and why); 75 another cycle is
    running (nothing done). See docs/OPERATIONS.md.
    """
    from civrisk.settings import get_settings
    from operations.schedule import install_stop_handlers, parse_every, parse_run_at, run_loop
    from operations.weekly import EXIT_LOCKED, CycleLocked, run_weekly_cycle

    settings = get_settings()
    if loop:
        if today is not None:
            raise typer.BadParameter("--today cannot be combined with --loop (the loop runs on the clock)")
        try:
            interval = parse_every(every or "7d")
            parse_run_at(settings.weekly_run_at)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        stop = threading.Event()
        install_stop_handlers(stop, _echo)
        raise typer.Exit(run_loop(settings, interval, stop, _echo))
    if every is not None:
        raise typer.BadParameter("--every only applies with --loop")
    try:
        day = date.fromisoformat(today) if today is not None else None
    except ValueError as exc:
        raise typer.BadParameter(f"--today {today!r}: expected a date like 2024-03-04") from exc
    try:
        report = run_weekly_cycle(settings, day, echo=_echo)
    except CycleLocked as exc:
        typer.echo(f"civrisk weekly: {exc}", err=True)
        raise typer.Exit(EXIT_LOCKED) from exc
    for name in report.failed:
        if report.step(name).traceback:
            typer.echo(f"--- {name}: traceback ---\n{report.step(name).traceback.rstrip()}", err=True)
    raise typer.Exit(report.exit_code)


def _echo(line: str) -> None:
    typer.echo(line)
    sys.stdout.flush()
