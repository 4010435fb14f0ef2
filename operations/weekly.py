"""The unattended weekly cycle: new data in, this week's scores out, past weeks verified, alerts delivered.

This module holds the cycle, its lock and its report; what each step does is in ``operations.weekly_steps``.

``run_weekly_cycle(settings, today)`` runs, under one non-blocking lock (``home / "weekly.lock"``):

1. **fetch** (only when ``CIVRISK_WEEKLY_FETCH`` is set): the newest UCDP Candidate monthly release into the
   drop folder (``ingest.fetch``; a cached release is not downloaded again).
2. **ingest**: every event file in the drop folder that the events store has not ingested
   (``ingest.event_store.add_files``; known files are skipped by SHA-256).
3. **publish**: the ISO week of ``today`` (keyed by its Monday) with the champion model
   (``publish.publication.week.publish_week``).
4. **verify**: every published week whose longest horizon has passed (its last window week is in the
   data, ``publication_lag_weeks`` included) and that has no verification yet
   (``publish.publication.verify``); then the drift watch over the last verified weeks: published
   calibration per country (flagged ``DRIFT`` past the settings' thresholds) and alert statistics.
5. **retrain**: the retrain policy (``operations.retrain``): when the champion's data are
   ``retrain_every_weeks`` old or the drift watch flags a country, train the champion's config on the
   events store and register it; the champion rule alone decides whether it is published next week.
6. **deliver**: queued alert messages to registered webhooks, retrying failed ones
   (``serve.webhooks.deliver_pending``).

A step that fails is reported with its error and the cycle exits non-zero; earlier steps' results stay in
the report. What runs after a failure: publish and verify need the data steps (a file that failed to
ingest, or a configured source that failed to arrive, would be missing from a publication, and a
verification is append-only, and a retrain would learn from partial data), so they do not run after a fetch
or ingest failure; verify does not need this week's publication, so it runs after a publish failure;
deliver always runs, so alerts already recorded still reach their receivers. See docs/OPERATIONS.md.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from filelock import FileLock, Timeout

from civrisk.settings import Settings, get_settings
from civrisk.weeks import week_label
from operations import weekly_steps as steps
from operations.retrain import retrain_step

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_LOCKED = 75  # sysexits.h EX_TEMPFAIL: try again later
LOCK_FILE = "weekly.lock"
OWNER_FILE = "weekly.lock.owner"
STEPS = ("fetch", "ingest", "publish", "verify", "retrain", "deliver")
"""The steps, in order; what each does is in operations.weekly_steps (retrain: operations.retrain)."""
DATA_STEPS = ("fetch", "ingest")
NEEDS_DATA = ("publish", "verify", "retrain")
"""Steps that do not run after a data step failed (module docstring)."""

Echo = Callable[[str], None]


class CycleLocked(RuntimeError):
    """Another weekly cycle holds the lock; this one did nothing."""


@dataclass
class StepResult:
    """One step of a cycle: ok, failed (with its error), skipped (switched off) or not run."""

    name: str
    status: str = "not run"  # ok | failed | skipped | not run
    lines: list[str] = field(default_factory=list)
    error: str = ""
    traceback: str = ""
    seconds: float = 0.0

    def block(self) -> list[str]:
        """Return the step as report lines: a status line, then its details indented."""
        mark = {"ok": "ok", "failed": "FAILED", "skipped": "skipped", "not run": "not run"}[self.status]
        out = [f"[{mark}] {self.name} ({self.seconds:.1f} s)"]
        out += [f"    {line}" for line in self.lines]
        if self.error:
            out += [
                f"    error: {line}" if i == 0 else f"    {line}"
                for i, line in enumerate(self.error.splitlines())
            ]
        return out


@dataclass
class CycleReport:
    """What a weekly cycle did, step by step."""

    today: date
    week: date
    started_at: datetime
    steps: list[StepResult]
    seconds: float = 0.0
    drifting: list[str] = field(default_factory=list)
    """Countries and horizons whose published calibration drifts (the drift watch after verify), in words:
    "MLI h4: forecast 0.57 vs observed 0.45 (z -3.4)"."""

    @property
    def failed(self) -> list[str]:
        """Return the names of the failed steps."""
        return [s.name for s in self.steps if s.status == "failed"]

    @property
    def exit_code(self) -> int:
        """Return 0 when no step failed, else EXIT_FAILED."""
        return EXIT_FAILED if self.failed else EXIT_OK

    def step(self, name: str) -> StepResult:
        """Return the step called ``name``."""
        return next(s for s in self.steps if s.name == name)

    def header(self) -> str:
        """Return the report's first line: which week, which day."""
        return (
            f"civrisk weekly: publication week {week_label(self.week)} (Monday {self.week}), "
            f"today {self.today}, started {self.started_at:%Y-%m-%d %H:%M:%S} UTC"
        )

    def footer(self) -> str:
        """Return the report's last line: the outcome and exit code."""
        drift = f"; DRIFT in {'; '.join(self.drifting)}" if self.drifting else ""
        if self.failed:
            return (
                f"cycle FAILED in {', '.join(self.failed)} after {self.seconds:.1f} s (exit {self.exit_code})"
                + drift
            )
        return f"cycle ok in {self.seconds:.1f} s{drift}"

    def lines(self) -> list[str]:
        """Return the whole report as plain-text lines."""
        return [self.header(), *[line for s in self.steps for line in s.block()], self.footer()]


def publication_week(today: date) -> date:
    """Return the Monday of ``today``'s ISO week: the week the cycle publishes."""
    return today - timedelta(days=today.weekday())


def run_weekly_cycle(
    settings: Settings | None = None, today: date | None = None, echo: Echo | None = None
) -> CycleReport:
    """Run one weekly cycle and return its report; raise CycleLocked when another cycle is running.

    ``today`` (default: the UTC date) decides the publication week. ``echo`` receives each step's report
    lines as the step ends (for logs of a long cycle).
    """
    settings = settings or get_settings()
    started = datetime.now(UTC)
    today = today or started.date()
    settings.home.mkdir(parents=True, exist_ok=True)
    lock = FileLock(settings.home / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout as exc:
        raise CycleLocked(_locked_message(settings.home)) from exc
    try:
        (settings.home / OWNER_FILE).write_text(
            f"pid {os.getpid()} on {socket.gethostname()} since {started:%Y-%m-%d %H:%M:%S} UTC\n",
            encoding="utf-8",
        )
        report = CycleReport(today, publication_week(today), started, [StepResult(n) for n in STEPS])
        if echo:
            echo(report.header())
        t0 = time.perf_counter()
        _run(report, settings, echo)
        report.seconds = time.perf_counter() - t0
        if echo:
            echo(report.footer())
        return report
    finally:
        lock.release()


def _run(report: CycleReport, settings: Settings, echo: Echo | None) -> None:
    actions: dict[str, Callable[[], list[str]]] = {
        "fetch": lambda: steps.fetch_step(settings, report.today),
        "ingest": lambda: steps.ingest_step(settings),
        "publish": lambda: steps.publish_step(settings, report.week),
        "verify": lambda: steps.verify_step(settings, report.week),
        "retrain": lambda: retrain_step(settings, report.week),
        "deliver": lambda: steps.deliver_step(settings),
    }
    for step in report.steps:
        data_failed = [s.name for s in report.steps if s.name in DATA_STEPS and s.status == "failed"]
        if step.name == "fetch" and settings.weekly_fetch is None:
            step.status, step.lines = "skipped", ["off (set CIVRISK_WEEKLY_FETCH=ucdp-candidate to download)"]
        elif step.name in NEEDS_DATA and data_failed:
            step.lines = [f"not run: {' and '.join(data_failed)} failed, so the events store may lack data"]
        else:
            _attempt(step, actions[step.name])
            if step.name == "verify":
                report.drifting = _drifting(settings, step)
        if echo:
            for line in step.block():
                echo(line)


def _drifting(settings: Settings, verify: StepResult) -> list[str]:
    """Return the drift watch's drifting countries; a watch that cannot be read is said in verify's lines."""
    from publish.publication.drift import drift_health
    from publish.store.store import ScoreStore

    try:
        with ScoreStore(settings.resolved_db_url()) as store:
            return drift_health(store, settings)["drifting"]
    except Exception as exc:  # noqa: BLE001  (the cycle goes on; the summary says what failed)
        verify.lines.append(f"drift watch not read: {type(exc).__name__}: {exc}")
        return []


def _attempt(step: StepResult, action: Callable[[], list[str]]) -> None:
    t0 = time.perf_counter()
    try:
        step.lines = action()
        step.status = "ok"
    # A step boundary is where an unattended job must catch everything it can report: the error goes into
    # the report and the exit code, the other steps still run where they can (module docstring), and
    # KeyboardInterrupt/SystemExit (not Exception) still stop the cycle.
    except Exception as exc:  # noqa: BLE001
        step.status = "failed"
        step.lines = exc.lines if isinstance(exc, steps.StepFailed) else []
        step.error = str(exc) if isinstance(exc, steps.StepFailed) else f"{type(exc).__name__}: {exc}"
        step.traceback = traceback.format_exc()
    step.seconds = time.perf_counter() - t0


def _locked_message(home: Path) -> str:
    owner = home / OWNER_FILE
    held_by = owner.read_text(encoding="utf-8").strip() if owner.is_file() else "an unknown process"
    return (
        f"another civrisk weekly cycle is running (lock {home / LOCK_FILE} held by {held_by}); this one "
        "exits without doing anything. The lock is released when that process ends, even if it crashes; "
        "run again after it finishes."
    )
