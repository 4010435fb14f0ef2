"""The in-process scheduler of ``civrisk weekly --loop``: run times, the loop, and clean stops on signals.

The loop runs a cycle at once, then sleeps until the next run time and runs again, until SIGTERM or
SIGINT. Run times are ``CIVRISK_WEEKLY_RUN_AT`` (UTC, default ``Mon 06:00``) plus whole multiples of
``--every``: with 7d every Monday 06:00 UTC, with 1d every day at 06:00. A first SIGTERM/SIGINT during the
sleep stops at once; during a cycle it lets the cycle finish, then stops (exit 0). A second one stops at
once: every write of the cycle is atomic, so that is safe too. For production prefer the systemd timer
in ``deploy/`` (docs/OPERATIONS.md): the loop is for containers without a scheduler.
"""

from __future__ import annotations

import math
import re
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType

from civrisk.settings import Settings
from operations import weekly

_EVERY = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")
_RUN_AT = re.compile(r"^\s*(mon|tue|wed|thu|fri|sat|sun)[a-z]*\s+(\d{1,2}):(\d{2})\s*$", re.IGNORECASE)
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_REFERENCE_MONDAY = datetime(2024, 1, 1, tzinfo=UTC)
_MAX_NAP_S = 3600.0  # wake hourly to re-read the clock (suspend, clock changes)


def parse_every(text: str) -> timedelta:
    """Return the interval ``text`` names: whole days, hours or minutes (``7d``, ``12h``, ``30m``)."""
    match = _EVERY.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(
            f"--every {text!r}: expected a positive whole number of days, hours or minutes, like 7d, 12h"
        )
    n, unit = int(match.group(1)), match.group(2)
    return timedelta(days=n) if unit == "d" else timedelta(hours=n) if unit == "h" else timedelta(minutes=n)


def parse_run_at(text: str) -> tuple[int, int, int]:
    """Return (weekday 0=Monday, hour, minute) from a run time like ``Mon 06:00`` (UTC)."""
    match = _RUN_AT.match(text)
    if not match or int(match.group(2)) > 23 or int(match.group(3)) > 59:
        raise ValueError(
            f"CIVRISK_WEEKLY_RUN_AT={text!r}: expected a weekday and a UTC time like 'Mon 06:00' "
            f"(weekday names: {', '.join(d.capitalize() for d in _DAYS)})"
        )
    return _DAYS.index(match.group(1).lower()[:3]), int(match.group(2)), int(match.group(3))


def next_run(now: datetime, every: timedelta, run_at: str) -> datetime:
    """Return the first run time after ``now``: ``run_at`` plus a whole multiple of ``every`` (UTC)."""
    weekday, hour, minute = parse_run_at(run_at)
    anchor = _REFERENCE_MONDAY + timedelta(days=weekday, hours=hour, minutes=minute)
    steps = math.floor((now.astimezone(UTC) - anchor) / every) + 1
    return anchor + steps * every


def run_loop(
    settings: Settings,
    every: timedelta,
    stop: threading.Event,
    echo: Callable[[str], None],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Run cycles at each run time until ``stop`` is set; return the exit code (0: stopped cleanly)."""
    parse_run_at(settings.weekly_run_at)  # fail before the first cycle, not a week later
    while not stop.is_set():
        try:
            report = weekly.run_weekly_cycle(settings, clock().date(), echo=echo)
            if report.failed and report.step(report.failed[0]).traceback:
                echo(report.step(report.failed[0]).traceback.rstrip())
        except weekly.CycleLocked as exc:
            echo(f"skipped this run: {exc}")
        if stop.is_set():
            break
        due = next_run(clock(), every, settings.weekly_run_at)
        echo(
            f"next cycle at {due:%Y-%m-%d %H:%M} UTC (every {_show(every)} from {settings.weekly_run_at} UTC)"
        )
        while not stop.is_set() and (left := (due - clock()).total_seconds()) > 0:
            stop.wait(min(left, _MAX_NAP_S))
    echo("civrisk weekly --loop: stopped")
    return 0


def install_stop_handlers(stop: threading.Event, echo: Callable[[str], None]) -> None:
    """Make the first SIGTERM/SIGINT set ``stop`` (finish the running cycle); a second one acts as usual."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handle(signum: int, frame: FrameType | None) -> None:
        echo(f"{signal.Signals(signum).name} received: finishing the running cycle (if any), then stopping")
        stop.set()
        for sig, old in previous.items():
            signal.signal(sig, old)

    for sig in previous:
        signal.signal(sig, handle)


def _show(every: timedelta) -> str:
    if every % timedelta(days=1) == timedelta(0):
        return f"{every.days}d"
    if every % timedelta(hours=1) == timedelta(0):
        return f"{int(every.total_seconds() // 3600)}h"
    return f"{int(every.total_seconds() // 60)}m"
