"""The unattended weekly cycle: new data in, this week's scores out, past weeks verified, alerts delivered.

``run_weekly_cycle(settings, today)`` runs, under one non-blocking lock (``home / "weekly.lock"``):

1. **fetch** (only when ``CIVRISK_WEEKLY_FETCH`` is set): the newest UCDP Candidate monthly release into the
   drop folder (``ingest.fetch``; a cached release is not downloaded again).
2. **ingest**: every event file in the drop folder that the events store has not ingested
   (``ingest.event_store.add_files``; known files are skipped by SHA-256).
3. **publish**: the ISO week of ``today`` (keyed by its Monday) with the champion model
   (``publish.publication.publish_week``).
4. **verify**: every published week whose longest horizon has passed (its last window week is in the
   data, ``publication_lag_weeks`` included) and that has no verification yet (``publish.verify``).
5. **deliver**: queued alert messages to registered webhooks, retrying failed ones
   (``serve.webhooks.deliver_pending``).

A step that fails is reported with its error and the cycle exits non-zero; earlier steps' results stay in
the report. What runs after a failure: publish and verify need the data steps (a file that failed to
ingest, or a configured source that failed to arrive, would be missing from a publication, and a
verification is append-only), so they do not run after a fetch or ingest failure; verify does not need
this week's publication, so it runs after a publish failure; deliver always runs, so alerts already
recorded still reach their receivers. See docs/OPERATIONS.md.
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
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from civrisk.settings import Settings, get_settings
from publish.weeks import week_label

if TYPE_CHECKING:
    from publish.publication import PublishResult

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_LOCKED = 75  # sysexits.h EX_TEMPFAIL: try again later
LOCK_FILE = "weekly.lock"
OWNER_FILE = "weekly.lock.owner"
EVENT_SUFFIXES = (".csv", ".csv.gz", ".zip", ".parquet")
SETTLE_SECONDS = 60.0
"""A drop file modified more recently than this may still be being copied in: it waits for the next cycle."""
CANDIDATE_MONTHS_BACK = (1, 2, 3)
"""Candidate monthly releases tried, newest first: UCDP publishes month M's release during month M+1."""
STEPS = ("fetch", "ingest", "publish", "verify", "deliver")
NEEDS_DATA = ("publish", "verify")

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
        if self.failed:
            return (
                f"cycle FAILED in {', '.join(self.failed)} after {self.seconds:.1f} s (exit {self.exit_code})"
            )
        return f"cycle ok in {self.seconds:.1f} s"

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
        "fetch": lambda: fetch_step(settings, report.today),
        "ingest": lambda: ingest_step(settings),
        "publish": lambda: publish_step(settings, report.week),
        "verify": lambda: verify_step(settings, report.week),
        "deliver": lambda: deliver_step(settings),
    }
    for step in report.steps:
        data_failed = [s.name for s in report.steps[:2] if s.status == "failed"]
        if step.name == "fetch" and settings.weekly_fetch is None:
            step.status, step.lines = "skipped", ["off (set CIVRISK_WEEKLY_FETCH=ucdp-candidate to download)"]
        elif step.name in NEEDS_DATA and data_failed:
            step.lines = [f"not run: {' and '.join(data_failed)} failed, so the events store may lack data"]
        else:
            _attempt(step, actions[step.name])
        if echo:
            for line in step.block():
                echo(line)


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
        step.error = f"{type(exc).__name__}: {exc}"
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


# -- steps -------------------------------------------------------------------------------------------


def fetch_step(settings: Settings, today: date) -> list[str]:
    """Fetch the newest published UCDP Candidate monthly release into the drop folder; return report lines."""
    from rich.console import Console

    from ingest.fetch import FetchError, candidate_release, fetch_release

    if settings.weekly_fetch != "ucdp-candidate":
        raise ValueError(
            f"CIVRISK_WEEKLY_FETCH={settings.weekly_fetch!r}: expected 'ucdp-candidate' or unset"
        )
    drop = settings.resolved_drop_dir()
    drop.mkdir(parents=True, exist_ok=True)
    lines, errors = [], []
    for back in CANDIDATE_MONTHS_BACK:
        year, month = divmod(today.year * 12 + today.month - 1 - back, 12)
        version = f"{year % 100:02d}.0.{month + 1}"
        try:
            got = fetch_release(
                candidate_release(version, settings.ucdp_base_url), drop, console=Console(stderr=True)
            )
        except FetchError as exc:
            errors.append(f"{version}: {exc}")
            lines.append(f"UCDP Candidate {version}: not available ({str(exc).split('. ')[0]})")
            continue
        how = "already cached" if got.from_cache else "downloaded"
        lines.append(
            f"UCDP Candidate {version}: {how} {got.path} ({got.size:,} bytes, sha256 {got.sha256[:12]})"
        )
        return lines
    raise FetchError("no UCDP Candidate release could be fetched:\n" + "\n".join(errors))


def drop_files(drop: Path, now: float | None = None) -> tuple[list[Path], list[Path]]:
    """Return (event files ready to ingest, files still settling) in the drop folder, oldest first.

    Hidden files, ``*.part``/``*.tmp`` and download records (``*.json``) are not event files. A file
    modified less than SETTLE_SECONDS ago may still be being copied in and waits for the next cycle.
    """
    now = time.time() if now is None else now
    ready, settling = [], []
    for path in sorted(drop.iterdir(), key=lambda p: (p.stat().st_mtime, p.name)) if drop.is_dir() else []:
        name = path.name.lower()
        if not path.is_file() or name.startswith(".") or not name.endswith(EVENT_SUFFIXES):
            continue
        (settling if now - path.stat().st_mtime < SETTLE_SECONDS else ready).append(path)
    return ready, settling


def ingest_step(settings: Settings) -> list[str]:
    """Add the drop folder's new event files to the events store; return report lines."""
    from ingest.event_store import add_files

    drop = settings.resolved_drop_dir()
    drop.mkdir(parents=True, exist_ok=True)
    ready, settling = drop_files(drop)
    lines = [f"drop folder {drop}: {len(ready)} event files"]
    lines += [
        f"{p.name}: modified under {SETTLE_SECONDS:.0f} s ago, left for the next cycle" for p in settling
    ]
    delta = add_files(ready, settings)
    return lines + delta.lines()


def publish_step(settings: Settings, week: date) -> list[str]:
    """Publish ``week`` with the champion model from the events store; return report lines."""
    from ingest.event_store import events_dir
    from publish import publication

    try:
        result = publication.publish_week(
            week_label(week), events_dir=events_dir(settings), settings=settings
        )
    except LookupError as exc:
        if type(exc) is not LookupError or "'champion'" not in str(exc):
            raise  # e.g. ModelConfigError: a registered model whose config cannot be recovered
        raise LookupError(
            f"no champion model is registered as {settings.registered_model_name!r}: run "
            "`civrisk train CONFIG --register` (or `civrisk demo`) first, then run the cycle again "
            f"({exc})"
        ) from exc
    return publish_lines(result)


def publish_lines(result: PublishResult) -> list[str]:
    """Return report lines for a publication run: revision, model, scores, withheld countries, alerts."""
    pub = result.publication
    if result.created:
        state = "new revision"
    else:
        state = "already published with this model and data, nothing recorded"
        state += " (its missing files were written again)" if result.rebuilt else ""
    as_of = pub.as_of.date().isoformat()
    lines = [
        f"{pub.week_label} revision {pub.revision}: {state}",
        f"model {pub.model_name} v{pub.model_version}, {pub.n_scores:,} scores, data as of {as_of}",
        f"files in {result.folder}",
    ]
    if result.withheld:
        lines.append(f"withheld (data stale at the cut-off): {', '.join(result.withheld)}")
    if result.no_score:
        lines.append(f"{len(result.no_score)} regions of fresh countries got no score (see notes)")
    alerts = result.alerts
    kinds = alerts["msg_type"].value_counts() if len(alerts) and "msg_type" in alerts.columns else {}
    lines.append("alert messages: " + (", ".join(f"{n} {k}" for k, n in kinds.items()) or "none"))
    return lines + [f"note: {note}" for note in result.notes]


def verify_step(settings: Settings, week: date) -> list[str]:
    """Verify each published week whose longest horizon has passed and that has no verification yet."""
    from publish import verify

    result = verify.verify_week(week, settings=settings)
    return [str(result)]


def deliver_step(settings: Settings) -> list[str]:
    """Deliver queued alert messages to registered webhooks (retrying failed ones); return report lines."""
    from publish.store import ScoreStore
    from serve import webhooks
    from serve.tables import create_serve_schema

    with ScoreStore(settings.resolved_db_url()) as store:
        create_serve_schema(store.engine)  # webhook tables exist once `civrisk serve` ran; not before
        got = webhooks.deliver_pending(store, settings)
    line = (
        f"webhooks: {got.queued} queued, {got.delivered} delivered, {got.failed_attempts} failed attempts, "
        f"{got.gave_up} given up, {got.pending} pending"
    )
    return [line]
