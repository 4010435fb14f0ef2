"""The weekly cycle: steps in order with the right week, failures reported and gated, the lock, the loop."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from filelock import FileLock
from typer.testing import CliRunner

import publish.weekly as weekly
from civrisk.settings import Settings, get_settings
from ingest.event_store import events_dir, load_store
from publish.weekly import (
    EXIT_LOCKED,
    CycleLocked,
    CycleReport,
    drop_files,
    publication_week,
    run_weekly_cycle,
)
from publish.weekly_command import next_run, parse_every, parse_run_at, run_loop
from tests.test_ingest_quarantine import write_ucdp_csv

TODAY = date(2024, 3, 6)  # a Wednesday
MONDAY = date(2024, 3, 4)
OLD = time.time() - 3600  # drop files older than the settle time


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def drop(settings: Settings, name: str, rows: list[dict[str, str]], mtime: float = OLD) -> Path:
    folder = settings.resolved_drop_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = write_ucdp_csv(folder / name, rows)
    os.utime(path, (mtime, mtime))
    return path


class Calls(SimpleNamespace):
    """Fake publish, verify and deliver that record their arguments."""


@pytest.fixture()
def calls(monkeypatch) -> Calls:
    record = Calls(publish=[], verify=[], deliver=0, publish_error=None, verify_error=None)

    def publish_week(week, as_of=None, model_version=None, events_dir=None, settings=None):
        record.publish.append((week, events_dir))
        if record.publish_error:
            raise record.publish_error
        return f"published {week}"

    def verify_step(settings, week):
        record.verify.append(week)
        if record.verify_error:
            raise record.verify_error
        return [f"verified up to {week}"]

    def deliver_step(settings):
        record.deliver += 1
        return ["webhooks: 0 queued"]

    monkeypatch.setattr(weekly, "_publish_week", publish_week, raising=False)
    monkeypatch.setattr(weekly, "verify_step", verify_step)
    monkeypatch.setattr(weekly, "deliver_step", deliver_step)
    return record


def test_publication_week_is_the_monday_of_today() -> None:
    assert publication_week(date(2024, 3, 6)) == MONDAY
    assert publication_week(MONDAY) == MONDAY
    assert publication_week(date(2024, 3, 10)) == MONDAY  # Sunday: same ISO week


def test_drop_files_skips_what_is_not_a_finished_event_file(tmp_path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    names = [
        "b.csv",
        "a.csv.gz",
        "c.zip",
        "d.parquet",
        ".hidden.csv",
        "e.csv.part",
        "f.csv.json",
        "notes.txt",
    ]
    for i, name in enumerate(names):
        (folder / name).write_text("x", encoding="utf-8")
        os.utime(folder / name, (OLD + i, OLD + i))
    (folder / "sub.csv").mkdir()
    fresh = folder / "copying.csv"
    fresh.write_text("x", encoding="utf-8")
    ready, settling = drop_files(folder)
    assert [p.name for p in ready] == ["b.csv", "a.csv.gz", "c.zip", "d.parquet"]  # oldest first
    assert [p.name for p in settling] == ["copying.csv"]
    assert drop_files(tmp_path / "absent") == ([], [])


def test_a_cycle_ingests_the_drop_folder_and_publishes_the_week_of_today(settings, calls) -> None:
    drop(settings, "ged231_a.csv", [{"id": "1"}, {"id": "2", "best": "-1"}])
    echoed: list[str] = []
    report = run_weekly_cycle(settings, TODAY, echo=echoed.append)
    assert report.exit_code == 0, report.lines()
    assert [s.status for s in report.steps] == ["skipped", "ok", "ok", "ok", "ok"]
    assert calls.publish == [(MONDAY, events_dir(settings))]
    assert calls.verify == [MONDAY] and calls.deliver == 1
    assert len(load_store(events_dir(settings)).events) == 1
    text = "\n".join(report.lines())
    assert "publication week 2024-W10 (Monday 2024-03-04), today 2024-03-06" in text
    assert "ged231_a.csv: ucdp_ged 23.1, 2 rows read, 1 kept, 1 quarantined" in text
    assert "published 2024-03-04" in text
    assert echoed[0] == report.header() and echoed[-1] == report.footer()
    assert report.footer().startswith("cycle ok in ")

    again = run_weekly_cycle(settings, TODAY)
    assert "  skipped (same SHA-256 already ingested): ged231_a.csv" in again.step("ingest").lines
    assert calls.publish[-1] == (MONDAY, events_dir(settings))


def test_no_champion_fails_publish_with_the_fix_and_the_other_steps_still_run(settings, calls) -> None:
    calls.publish_error = LookupError(
        "registered model 'civrisk' has no 'champion' version; train and register one with civrisk train"
    )
    report = run_weekly_cycle(settings, TODAY)
    assert report.exit_code == 1 and report.failed == ["publish"]
    error = report.step("publish").error
    assert error.startswith("LookupError: no champion model is registered as 'civrisk': run ")
    assert "`civrisk train CONFIG --register` (or `civrisk demo`)" in error
    assert report.step("ingest").status == "ok" and calls.verify == [MONDAY] and calls.deliver == 1
    assert report.footer().startswith("cycle FAILED in publish after ")
    assert any(line.startswith("    error: LookupError: no champion") for line in report.lines())


def test_a_failed_ingest_stops_publish_and_verify_but_alerts_are_still_delivered(settings, calls) -> None:
    drop(settings, "ged231_a.csv", [{"id": "1"}])
    bad = settings.resolved_drop_dir() / "broken.csv"
    bad.write_text("foo,bar\n1,2\n", encoding="utf-8")
    os.utime(bad, (OLD + 1, OLD + 1))
    report = run_weekly_cycle(settings, TODAY)
    assert report.exit_code == 1 and report.failed == ["ingest"]
    assert "broken.csv" in report.step("ingest").error
    assert [report.step(s).status for s in ("publish", "verify", "deliver")] == ["not run", "not run", "ok"]
    assert report.step("publish").lines == ["not run: ingest failed, so the events store may lack data"]
    assert calls.publish == [] and calls.verify == [] and calls.deliver == 1
    assert not (events_dir(settings) / "events.parquet").exists()  # the good file waits with the bad one


def test_a_failed_verify_is_reported_and_deliver_still_runs(settings, calls) -> None:
    calls.verify_error = RuntimeError("verification data missing")
    report = run_weekly_cycle(settings, TODAY)
    assert report.failed == ["verify"] and calls.deliver == 1
    assert report.step("verify").error == "RuntimeError: verification data missing"
    assert "RuntimeError: verification data missing" in report.step("verify").traceback


def test_fetch_takes_the_newest_published_candidate_release(settings, calls, monkeypatch) -> None:
    from ingest import fetch

    tried: list[str] = []

    def fetch_release(release, dest, *, force=False, client=None, console=None):
        tried.append(release.version)
        if release.version == "24.0.2":
            raise fetch.FetchError(f"UCDP has no Candidate release 24.0.2 at {release.url} (HTTP 404). Check")
        path = write_ucdp_csv(Path(dest) / release.filename, [{"id": "7", "code_status": "Check dyad"}])
        os.utime(path, (OLD, OLD))
        return fetch.Fetched(
            release, path, path.stat().st_size, "ab" * 32, release.filename, from_cache=False
        )

    monkeypatch.setattr(fetch, "fetch_release", fetch_release)
    report = run_weekly_cycle(settings.model_copy(update={"weekly_fetch": "ucdp-candidate"}), TODAY)
    assert report.exit_code == 0, report.lines()
    assert tried == ["24.0.2", "24.0.1"]
    lines = report.step("fetch").lines
    assert lines[0].startswith(
        "UCDP Candidate 24.0.2: not available (UCDP has no Candidate release 24.0.2 at "
    )
    assert lines[0].endswith("(HTTP 404))")  # the reason is cut after its first sentence
    assert lines[1].startswith("UCDP Candidate 24.0.1: downloaded ")
    events = load_store(events_dir(settings)).events
    assert events["event_id"].tolist() == ["ucdp_candidate:7"]


def test_a_failed_fetch_stops_publishing(settings, calls, monkeypatch) -> None:
    from ingest import fetch

    def fetch_release(release, dest, **kwargs):
        raise fetch.FetchError(f"download of {release.url} failed: ConnectError. Nothing was cached")

    monkeypatch.setattr(fetch, "fetch_release", fetch_release)
    report = run_weekly_cycle(settings.model_copy(update={"weekly_fetch": "ucdp-candidate"}), TODAY)
    assert report.failed == ["fetch"]
    assert report.step("fetch").error.startswith(
        "FetchError: no UCDP Candidate release could be fetched:\n24.0.2"
    )
    assert report.step("ingest").status == "ok"
    assert [report.step(s).status for s in ("publish", "verify", "deliver")] == ["not run", "not run", "ok"]
    assert calls.publish == []


def test_an_overlapping_cycle_exits_at_once_with_the_holder_named(settings, calls, monkeypatch) -> None:
    entered, release = threading.Event(), threading.Event()
    real_ingest = weekly.ingest_step

    def slow_ingest(s):
        entered.set()
        release.wait(10)
        return real_ingest(s)

    monkeypatch.setattr(weekly, "ingest_step", slow_ingest)
    first: list[CycleReport] = []
    thread = threading.Thread(target=lambda: first.append(run_weekly_cycle(settings, TODAY)))
    thread.start()
    try:
        assert entered.wait(10)
        lock = settings.home / "weekly.lock"
        msg = f"another civrisk weekly cycle is running (lock {lock} held by pid {os.getpid()} on "
        with pytest.raises(CycleLocked, match=re.escape(msg)):
            run_weekly_cycle(settings, TODAY)
    finally:
        release.set()
        thread.join(20)
    assert first and first[0].exit_code == 0
    assert calls.publish == [(MONDAY, events_dir(settings))]  # only the first cycle published
    monkeypatch.setattr(weekly, "ingest_step", real_ingest)
    assert run_weekly_cycle(settings, TODAY).exit_code == 0  # the lock was released


def test_the_command_exits_75_while_another_process_holds_the_lock(settings) -> None:
    settings.home.mkdir(parents=True)
    env = {**os.environ, "CIVRISK_HOME": str(settings.home)}
    with FileLock(settings.home / "weekly.lock"):
        done = subprocess.run(
            [sys.executable, "-m", "civrisk.cli", "weekly"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == EXIT_LOCKED, done.stderr
    assert "civrisk weekly: another civrisk weekly cycle is running" in done.stderr
    assert done.stdout == ""


@pytest.fixture()
def cli_env(settings, monkeypatch):
    monkeypatch.setenv("CIVRISK_HOME", str(settings.home))
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def test_the_command_prints_the_report_and_exits_1_on_a_failed_step(cli_env, calls) -> None:
    from civrisk.cli import app

    calls.publish_error = LookupError("registered model 'civrisk' has no 'champion' version")
    result = CliRunner().invoke(app, ["weekly", "--today", "2024-03-06"])
    assert result.exit_code == 1
    assert "publication week 2024-W10 (Monday 2024-03-04)" in result.output
    assert "[FAILED] publish" in result.output and "civrisk train CONFIG --register" in result.output
    assert calls.publish[0][0] == MONDAY


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--today", "2024-13-01"], "--today '2024-13-01': expected a date like 2024-03-04"),
        (["--every", "7d"], "--every only applies with --loop"),
        (["--loop", "--today", "2024-03-06"], "--today cannot be combined with --loop"),
        (["--loop", "--every", "0d"], "--every '0d': expected a positive whole number"),
    ],
)
def test_the_command_refuses_bad_options(cli_env, args, message) -> None:
    from civrisk.cli import app

    result = CliRunner().invoke(app, ["weekly", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split()).replace("│", "").replace("  ", " ")


def test_parse_every_and_run_at() -> None:
    assert parse_every("7d") == timedelta(days=7)
    assert parse_every(" 12h") == timedelta(hours=12)
    assert parse_every("30m") == timedelta(minutes=30)
    with pytest.raises(ValueError, match=re.escape("--every 'weekly': expected a positive whole number")):
        parse_every("weekly")
    assert parse_run_at("Mon 06:00") == (0, 6, 0)
    assert parse_run_at("sunday 23:30") == (6, 23, 30)
    with pytest.raises(ValueError, match=re.escape("CIVRISK_WEEKLY_RUN_AT='Mon 25:00': expected a weekday")):
        parse_run_at("Mon 25:00")


@pytest.mark.parametrize(
    ("now", "every", "run_at", "expected"),
    [
        (datetime(2024, 3, 6, 10, 0, tzinfo=UTC), "7d", "Mon 06:00", datetime(2024, 3, 11, 6, 0, tzinfo=UTC)),
        (datetime(2024, 3, 4, 6, 0, tzinfo=UTC), "7d", "Mon 06:00", datetime(2024, 3, 11, 6, 0, tzinfo=UTC)),
        (datetime(2024, 3, 4, 5, 59, tzinfo=UTC), "7d", "Mon 06:00", datetime(2024, 3, 4, 6, 0, tzinfo=UTC)),
        (datetime(2024, 3, 6, 10, 0, tzinfo=UTC), "1d", "Mon 06:00", datetime(2024, 3, 7, 6, 0, tzinfo=UTC)),
        (
            datetime(2024, 3, 6, 10, 0, tzinfo=UTC),
            "7d",
            "Sun 23:30",
            datetime(2024, 3, 10, 23, 30, tzinfo=UTC),
        ),
        (datetime(2020, 1, 1, 0, 0, tzinfo=UTC), "7d", "Mon 06:00", datetime(2020, 1, 6, 6, 0, tzinfo=UTC)),
    ],
)
def test_next_run(now, every, run_at, expected) -> None:
    assert next_run(now, parse_every(every), run_at) == expected


class FakeTime(threading.Event):
    """A stop event whose wait() advances a fake clock instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        super().__init__()
        self.now = now
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        self.now += timedelta(seconds=float(timeout or 0))
        return self.is_set()


def test_the_loop_runs_a_cycle_then_one_at_each_run_time_until_stopped(settings, monkeypatch) -> None:
    stop = FakeTime(datetime(2024, 3, 6, 10, 0, tzinfo=UTC))
    days: list[date] = []

    def cycle(s, today, echo=None):
        days.append(today)
        if len(days) == 3:
            stop.set()
        if len(days) == 2:
            raise CycleLocked("held")
        return CycleReport(today, publication_week(today), stop.now, [])

    monkeypatch.setattr(weekly, "run_weekly_cycle", cycle)
    echoed: list[str] = []
    assert run_loop(settings, timedelta(days=7), stop, echoed.append, clock=lambda: stop.now) == 0
    assert days == [date(2024, 3, 6), date(2024, 3, 11), date(2024, 3, 18)]
    assert "next cycle at 2024-03-11 06:00 UTC (every 7d from Mon 06:00 UTC)" in echoed
    assert "skipped this run: held" in echoed
    assert max(stop.waits) <= 3600  # naps of at most an hour, so a changed clock is noticed
    assert echoed[-1] == "civrisk weekly --loop: stopped"


_LOOP_SCRIPT = """
import sys, threading, time
from datetime import timedelta
import publish.weekly as w
from publish import weekly_command as wc
from civrisk.settings import Settings

def echo(line):
    print(line, flush=True)

def cycle(settings, today, echo=None):
    echo("cycle running")
    time.sleep(float(sys.argv[1]))
    echo("cycle done")
    return w.CycleReport(today, w.publication_week(today), None, [])

w.run_weekly_cycle = cycle
stop = threading.Event()
wc.install_stop_handlers(stop, echo)
sys.exit(wc.run_loop(Settings(home=sys.argv[2]), timedelta(days=7), stop, echo))
"""


@pytest.mark.parametrize(("cycle_s", "signal_after"), [(0.0, "next cycle at"), (1.5, "cycle running")])
def test_sigterm_stops_the_loop_cleanly(tmp_path, cycle_s, signal_after) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _LOOP_SCRIPT, str(cycle_s), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.strip())
        if line.startswith(signal_after):
            proc.terminate()
            break
    rest, _ = proc.communicate(timeout=20)
    lines += rest.split("\n")
    assert proc.returncode == 0, lines
    assert "SIGTERM received: finishing the running cycle (if any), then stopping" in lines
    assert lines.count("cycle done") == 1  # the running cycle finished; no further cycle started
    assert "civrisk weekly --loop: stopped" in lines
