"""Background ``civrisk publish`` runs for ``POST /v1/publish``: the model never runs inside a request.

:func:`start_job` starts the command as a child process (its output goes to a log file under
``<home>/jobs/``), records it in ``publish_jobs`` and returns at once; a daemon thread waits for the
process and records its exit status. One run at a time: a second request while one is running gets the
running job back (409). If the API process dies first, the child keeps running (it is in its own session)
and the job is marked failed the next time it is read, with a note that its end was not observed.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, select

from civrisk.weeks import utc_now
from serve import tables as st
from serve.redaction import redact_text

log = logging.getLogger(__name__)

_WATCHED: set[str] = set()
"""Jobs whose process a thread of this process waits for: their end is recorded by that thread (between
reaping the child and recording its exit code the pid names no process, which must not read as lost)."""
_WATCHED_LOCK = threading.Lock()


class JobRunning(RuntimeError):
    """A publish job is already running; ``job`` is it."""

    def __init__(self, job: Job) -> None:
        super().__init__(
            f"publish job {job.job_id} is still running (started {job.started_at:%Y-%m-%d %H:%M} UTC)"
        )
        self.job = job


@dataclass(frozen=True)
class Job:
    """One recorded publish run."""

    job_id: str
    status: str
    week_label: str | None
    command: list[str]
    pid: int | None
    returncode: int | None
    log_path: str
    started_at: datetime
    finished_at: datetime | None


def start_job(engine: Engine, argv: list[str], week_label: str | None, log_dir: Path) -> Job:
    """Start ``argv`` in the background, record it and return the job; JobRunning if one is running.

    The check and the start happen inside one write transaction (on SQLite ``BEGIN IMMEDIATE``, which
    other processes wait for), so two API workers asked at once cannot both start a job.
    """
    j = st.publish_jobs.c
    with st.writing(engine) as conn:
        for row in conn.execute(select(st.publish_jobs).where(j.status == "running").order_by(j.started_at)):
            job = _job(row)
            with _WATCHED_LOCK:
                watched = job.job_id in _WATCHED
            if watched or (job.pid is not None and _alive(job.pid)):
                raise JobRunning(job)
            _mark_lost(conn, job)
        job_id = uuid.uuid4().hex
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"publish-{job_id}.log"
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(  # noqa: S603 (argv is built by the app, not taken from the request)
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        conn.execute(
            st.publish_jobs.insert().values(
                id=job_id,
                week_label=week_label,
                command=json.dumps(argv),
                status="running",
                pid=proc.pid,
                log_path=str(log_path),
                started_at=utc_now(),
            )
        )
    with _WATCHED_LOCK:
        _WATCHED.add(job_id)
    threading.Thread(target=_wait, args=(engine, job_id, proc), name=f"publish-{job_id}", daemon=True).start()
    log.info("publish job %s started (pid %d), log %s", job_id, proc.pid, log_path)
    return get_job(engine, job_id)


def _wait(engine: Engine, job_id: str, proc: subprocess.Popen[bytes]) -> None:
    code = proc.wait()
    try:
        with st.writing(engine) as conn:
            conn.execute(
                st.publish_jobs.update()
                .where(st.publish_jobs.c.id == job_id)
                .values(status="succeeded" if code == 0 else "failed", returncode=code, finished_at=utc_now())
            )
    finally:
        with _WATCHED_LOCK:
            _WATCHED.discard(job_id)
    log.info("publish job %s finished with exit code %d", job_id, code)


def get_job(engine: Engine, job_id: str) -> Job:
    """Return job ``job_id``; LookupError if unknown."""
    with engine.connect() as conn:
        row = conn.execute(select(st.publish_jobs).where(st.publish_jobs.c.id == job_id)).one_or_none()
    if row is None:
        raise LookupError(f"no publish job {job_id!r}; POST /v1/publish starts one")
    return _reconcile(engine, _job(row))


def list_jobs(engine: Engine) -> list[Job]:
    """Return every recorded job, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(st.publish_jobs).order_by(st.publish_jobs.c.started_at)).all()
    return [_reconcile(engine, _job(r)) for r in rows]


def _reconcile(engine: Engine, job: Job) -> Job:
    """Mark a 'running' job whose process is gone (its waiter died with an API process) as failed."""
    with _WATCHED_LOCK:
        watched = job.job_id in _WATCHED
    if job.status != "running" or job.pid is None or watched or _alive(job.pid):
        return job
    with st.writing(engine) as conn:
        _mark_lost(conn, job)
    return get_job(engine, job.job_id)


def _mark_lost(conn: Connection, job: Job) -> None:
    conn.execute(
        st.publish_jobs.update()
        .where(st.publish_jobs.c.id == job.job_id, st.publish_jobs.c.status == "running")
        .values(status="failed", finished_at=utc_now())
    )
    with open(job.log_path, "a", encoding="utf-8") as out:
        out.write(
            "\n[civrisk serve] the process ended while no API process watched it; exit status unknown\n"
        )


REASON_LINES = 5
REASON_CHARS = 2000
_TAIL_BYTES = 16_384


def failure_reason(job: Job) -> str | None:
    """Return why a failed job failed: the last non-empty lines of its log, redacted, bounded; else None."""
    if job.status != "failed":
        return None
    try:
        with open(job.log_path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - _TAIL_BYTES))
            tail = fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"exit code {job.returncode}; its log {job.log_path} cannot be read ({exc.strerror})"
    lines = [line.rstrip() for line in tail.splitlines() if line.strip()][-REASON_LINES:]
    if not lines:
        return f"exit code {job.returncode}; the command printed nothing"
    text = redact_text("\n".join(line[:REASON_CHARS] for line in lines))
    return text[-REASON_CHARS:]


def _alive(pid: int) -> bool:
    # A child of this process that just ended stays a zombie (kill(0) succeeds) until its waiter thread
    # reaps it and records the real exit code; a child of a dead API process is reaped by init.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _job(row: object) -> Job:
    m = row._mapping  # type: ignore[attr-defined]
    return Job(
        job_id=m["id"],
        status=m["status"],
        week_label=m["week_label"],
        command=json.loads(m["command"]),
        pid=m["pid"],
        returncode=m["returncode"],
        log_path=m["log_path"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
    )
