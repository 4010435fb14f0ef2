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

import pandas as pd
import pytest
from filelock import FileLock
from typer.testing import CliRunner

import operations.weekly as weekly
import operations.weekly_steps as steps
from civrisk.settings import Settings, get_settings
from experiments.registry import NoChampionError
from ingest.event_store import events_dir, load_store
from operations.schedule import next_run, parse_every, parse_run_at, run_loop
from operations.weekly import EXIT_LOCKED, CycleLocked, CycleReport, publication_week, run_weekly_cycle
from operations.weekly_steps import drop_files
from publish.store.store import ScoreStore
from tests.test_ingest_quarantine import write_ucdp_csv

TODAY = date(2024, 3, 6)  # a Wednesday
MONDAY = date(2024, 3, 4)
OLD = time.time() - 3600  # drop files older than the settle time


@pytest.fixture()
def settings(tmp_path: Path, monkeypatch) -> Settings:
    # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI, so an earlier test's registry would otherwise be
    # the one this home's retrain step reads
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return Settings(home=tmp_path / "home")


def drop(settings: Settings, name: str, rows: list[dict[str, str]], mtime: float = OLD) -> Path:
    folder = settings.resolved_drop_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = write_ucdp_csv(folder / name, rows)
    os.utime(path, (mtime, mtime))
    return path


class Calls(SimpleNamespace):
    """Fake publish, verify and deliver that record their arguments."""


def fake_result(week_label: str, created: bool = True, **kw: object) -> SimpleNamespace:
    """Return what publish_week returns, with the fields the report reads."""
    pub = SimpleNamespace(
        week_label=week_label,
        revision=1,
        model_name="civrisk",
        model_version="3",
        n_scores=1200,
        as_of=datetime(2024, 3, 4, tzinfo=UTC),
    )
    fields = {"withheld": (), "no_score": (), "notes": (), "folder": Path("pubs"), "rebuilt": False}
    fields["alerts"] = pd.DataFrame({"msg_type": ["Alert", "Alert", "Update"]})
    return SimpleNamespace(publication=pub, created=created, **(fields | kw))


@pytest.fixture()
def calls(monkeypatch) -> Calls:
    record = Calls(publish=[], verify=[], deliver=[], publish_error=None, verify_errors={})

    def publish_week(week, as_of=None, model_version=None, events_dir=None, settings=None):
        record.publish.append((week, events_dir, settings))
        if record.publish_error:
            raise record.publish_error
        return fake_result(week)

    def verify_week(week, revision=None, events_dir=None, settings=None, rules=None):
        record.verify.append((week, revision, events_dir))
        error = record.verify_errors.get(week)
        if error:
            raise error
        table = pd.DataFrame(
            {"target": ["civ_any"], "horizon": [1], "metric": ["brier"], "value": [0.1], "n": [3]}
        )
        return SimpleNamespace(table=table, recorded=True)

    def deliver_pending(store, settings=None, policy=None, **kw):
        record.deliver.append(store.url)
        return SimpleNamespace(queued=2, delivered=1, failed_attempts=3, gave_up=0, pending=1)

    monkeypatch.setattr("publish.publication.week.publish_week", publish_week)
    monkeypatch.setattr("publish.publication.verify.verify_week", verify_week)
    monkeypatch.setattr("serve.webhooks.deliver_pending", deliver_pending)
    monkeypatch.setattr("operations.retrain.registered_data_ends", lambda settings: (None, None))
    return record


def record_weeks(settings: Settings, mondays: list[date], horizons: tuple[int, ...] = (1, 4)) -> list:
    """Record a synthetic publication for each Monday in the settings' scores store."""
    from tests.synth_scores import make_scores

    with ScoreStore(settings.resolved_db_url()) as store:
        return [
            store.record_publication(m, make_scores(3, str(m), horizons), "civrisk", "3", "fp", m)
            for m in mondays
        ]


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
    assert [s.status for s in report.steps] == ["skipped", "ok", "ok", "ok", "ok", "ok"]
    assert calls.publish == [("2024-W10", events_dir(settings), settings)]
    assert calls.verify == [] and calls.deliver == [settings.resolved_db_url()]
    assert report.step("verify").lines == [
        "nothing due: every published week whose windows have passed is verified",
        "drift watch: no verified week yet",
    ]
    assert report.step("retrain").lines == [
        "no retrain: no champion model yet: `civrisk train CONFIG --register` first"
    ]
    assert len(load_store(events_dir(settings)).events) == 1
    text = "\n".join(report.lines())
    assert "publication week 2024-W10 (Monday 2024-03-04), today 2024-03-06" in text
    assert "ged231_a.csv: ucdp_ged 23.1, 2 rows read, 1 kept, 1 quarantined" in text
    assert report.step("publish").lines == [
        "2024-W10 revision 1: new revision",
        "model civrisk v3, 1,200 scores, data as of 2024-03-04",
        "files in pubs",
        "alert messages: 2 Alert, 1 Update",
    ]
    assert report.step("deliver").lines == [
        "webhooks: 2 queued, 1 delivered, 3 failed attempts, 0 given up, 1 pending"
    ]
    assert echoed[0] == report.header() and echoed[-1] == report.footer()
    assert report.footer().startswith("cycle ok in ")

    again = run_weekly_cycle(settings, TODAY)
    assert "  skipped (same SHA-256 already ingested): ged231_a.csv" in again.step("ingest").lines
    assert [c[0] for c in calls.publish] == ["2024-W10", "2024-W10"]


def test_no_champion_fails_publish_with_the_fix_and_the_other_steps_still_run(settings, calls) -> None:
    record_weeks(settings, [date(2024, 1, 29)])  # horizons 1 and 4: its windows ended with 2024-W08
    calls.publish_error = NoChampionError(
        "registered model 'civrisk' has no 'champion' version; train and register one with civrisk train"
    )
    report = run_weekly_cycle(settings, TODAY)
    assert report.exit_code == 1 and report.failed == ["publish"]
    error = report.step("publish").error
    assert error.startswith("NoChampionError: no champion model is registered as 'civrisk': run ")
    assert "`civrisk train CONFIG --register` (or `civrisk demo`)" in error
    assert report.step("ingest").status == "ok" and len(calls.deliver) == 1
    assert calls.verify == [("2024-W05", 1, events_dir(settings))]
    assert report.footer().startswith("cycle FAILED in publish after ")
    assert any(line.startswith("    error: NoChampionError: no champion") for line in report.lines())


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
    assert calls.publish == [] and calls.verify == [] and len(calls.deliver) == 1
    assert not (events_dir(settings) / "events.parquet").exists()  # the good file waits with the bad one


def test_verify_takes_every_due_unverified_week_and_reports_each(settings, calls) -> None:
    from publish.publication.verify import NotYetVerifiable

    pubs = record_weeks(settings, [date(2024, 1, 15) + timedelta(weeks=i) for i in range(5)])  # W03..W07
    with ScoreStore(settings.resolved_db_url()) as store:
        store.record_verification(pubs[1].id, "brier", 0.2, 3, target="civ_any", horizon=1)  # W04 verified
    calls.verify_errors = {
        "2024-W05": NotYetVerifiable("MLI: 2024-W08 (data until 2024-02-18)"),
        "2024-W06": RuntimeError("panel build failed"),
    }
    report = run_weekly_cycle(settings, TODAY)
    # due at 2024-W10 with a 1-week lag: origins up to 2024-W06 (windows t..t+3 end by 2024-W09)
    assert [c[0] for c in calls.verify] == ["2024-W03", "2024-W05", "2024-W06"]
    assert report.failed == ["verify"] and len(calls.deliver) == 1
    step = report.step("verify")
    assert step.lines == [
        "2024-W03 r1: recorded 1 scores: civ_any h1 brier 0.100 (n 3)",
        "2024-W05 r1: waiting for data (MLI: 2024-W08 (data until 2024-02-18))",
        "drift watch: no verified week yet",  # the fake verification records no calibration sums
    ]
    assert step.error == "1 of 3 weeks failed to verify:\n2024-W06 r1: RuntimeError: panel build failed"
    assert "    2024-W06 r1: RuntimeError: panel build failed" in report.lines()


def test_due_for_verification_waits_for_the_longest_horizon_and_the_lag(settings) -> None:
    from operations.weekly_steps import due_for_verification

    record_weeks(settings, [date(2024, 1, 1), date(2024, 1, 8)], horizons=(1, 2, 8))
    record_weeks(settings, [date(2024, 1, 15)], horizons=(1,))
    with ScoreStore(settings.resolved_db_url()) as store:
        # h=8 from 2024-01-01 covers 2024-W01..W08; with lag 1 due at W09 (2024-02-26)
        assert [p.week_label for p in due_for_verification(store, date(2024, 2, 19), 1)] == ["2024-W03"]
        assert [p.week_label for p in due_for_verification(store, date(2024, 2, 26), 1)] == [
            "2024-W01",
            "2024-W03",
        ]
        assert [p.week_label for p in due_for_verification(store, date(2024, 2, 12), 5)] == []
        assert [p.week_label for p in due_for_verification(store, date(2024, 2, 19), 5)] == ["2024-W03"]
        assert [p.week_label for p in due_for_verification(store, date(2024, 3, 4), 2)] == [
            "2024-W01",
            "2024-W03",
        ]


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
    real_ingest = steps.ingest_step

    def slow_ingest(s):
        entered.set()
        release.wait(10)
        return real_ingest(s)

    monkeypatch.setattr(steps, "ingest_step", slow_ingest)
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
    assert len(calls.publish) == 1  # only the first cycle published
    monkeypatch.setattr(steps, "ingest_step", real_ingest)
    assert run_weekly_cycle(settings, TODAY).exit_code == 0  # the lock was released


def test_the_command_exits_75_while_another_process_holds_the_lock(settings) -> None:
    settings.home.mkdir(parents=True)
    env = {**os.environ, "CIVRISK_HOME": str(settings.home)}
    with FileLock(settings.home / "weekly.lock"):
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", "weekly"],
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
    from cli.main import app

    calls.publish_error = NoChampionError("registered model 'civrisk' has no 'champion' version")
    result = CliRunner().invoke(app, ["weekly", "--today", "2024-03-06"])
    assert result.exit_code == 1
    assert "publication week 2024-W10 (Monday 2024-03-04)" in result.output
    assert "[FAILED] publish" in result.output and "civrisk train CONFIG --register" in result.output
    assert calls.publish[0][0] == "2024-W10"


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
    from cli.main import app

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
import operations.weekly as w
from operations import schedule as wc
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


MALI_POINTS = [(14.49, -4.19), (16.77, -3.0), (16.27, -0.04), (13.43, -6.26), (11.32, -5.67), (14.45, -11.44)]
"""Points inside six Mali admin-1 regions (Mopti, Tombouctou, Gao, Ségou, Sikasso, Kayes)."""


def synthetic_ged_rows(n: int, seed: int) -> list[dict[str, str]]:
    """Return ``n`` seeded one-sided UCDP rows in Mali, 2018-01-01 .. 2020-12-31 (both ends included)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    days = pd.date_range("2018-01-01", "2020-12-31", freq="D")
    picks = np.concatenate([[0, len(days) - 1], rng.integers(0, len(days), n - 2)])
    rows = []
    for i, day in enumerate(picks, start=1):
        lat, lon = MALI_POINTS[int(rng.integers(0, len(MALI_POINTS)))]
        deaths = str(int(rng.poisson(2)))
        date_ = days[day].strftime("%Y-%m-%d")
        rows.append(
            {
                "id": str(i),
                "latitude": str(lat),
                "longitude": str(lon),
                "date_start": date_,
                "date_end": date_,
            }
            | {"best": deaths, "low": deaths, "high": deaths, "deaths_civilians": deaths}
        )
    return rows


@pytest.mark.slow
def test_end_to_end_cycles_publish_verify_and_rerun(settings, monkeypatch) -> None:
    """Real ingest, publication, verification and delivery; only the MLflow registry lookup is replaced."""
    from publish.publication import model_source
    from tests.publish_fixtures import config, fit_model

    drop(settings, "ged231_mali.csv", synthetic_ged_rows(900, seed=5))
    store_dir = events_dir(settings)
    models: dict[str, object] = {}
    champion = ["1"]

    def load_publish_model(model_version=None, settings=None, name=None):
        if not models:
            raise NoChampionError("registered model 'civrisk' has no 'champion' version; train one")
        return models[model_version or champion[0]]

    monkeypatch.setattr(model_source, "load_publish_model", load_publish_model)
    first = run_weekly_cycle(settings, date(2020, 11, 25))  # the store fills; no model yet
    assert first.failed == ["publish"] and "civrisk train CONFIG --register" in first.step("publish").error
    assert (
        first.step("ingest").lines[2].startswith("  ged231_mali.csv: ucdp_ged 23.1, 900 rows read, 900 kept")
    )

    base = config(store_dir)
    cfg = base.model_copy(update={"data": base.data.model_copy(update={"countries": ("MLI",)})})
    models["1"] = fit_model(cfg, pd.Timestamp("2020-11-16"), "1")
    models["2"] = fit_model(cfg, pd.Timestamp("2020-12-21"), "2")

    second = run_weekly_cycle(settings, date(2020, 11, 25))
    assert second.exit_code == 0, second.lines()
    assert second.step("publish").lines[0] == "2020-W48 revision 1: new revision"
    assert second.step("verify").lines == [
        "nothing due: every published week whose windows have passed is verified",
        "drift watch: no verified week yet",
    ]

    champion[0] = "2"
    third = run_weekly_cycle(settings, date(2020, 12, 30))
    assert third.exit_code == 0, third.lines()
    assert third.step("publish").lines[0] == "2020-W53 revision 1: new revision"
    verified, *watch = third.step("verify").lines
    assert verified.startswith("2020-W48 r1: recorded ")
    assert watch[0] == "drift watch over 1 verified weeks (2020-W48):"
    assert any(line.startswith("  ok MLI h1: mean forecast ") for line in watch)
    assert any(line.startswith("  alerts level h4: ") for line in watch)
    assert third.step("retrain").lines == [
        "no retrain: no champion model yet: `civrisk train CONFIG --register` first"
    ]
    assert third.step("deliver").lines[0].startswith("webhooks: 0 queued, 0 delivered")
    assert (settings.home / "publications" / "2020-W53" / "r1" / "report.html").is_file()

    again = run_weekly_cycle(settings, date(2020, 12, 30))
    assert again.exit_code == 0, again.lines()
    assert "  skipped (same SHA-256 already ingested): ged231_mali.csv" in again.step("ingest").lines
    assert again.step("publish").lines[0].startswith("2020-W53 revision 1: already published")
    assert again.step("verify").lines[0].startswith("nothing due")
    with ScoreStore(settings.resolved_db_url()) as store:
        assert [p.week_label for p in store.latest_publications()] == ["2020-W48", "2020-W53"]
        assert set(store.verifications()["publication_id"]) == {store.publication("2020-W48").id}


@pytest.mark.shared_data
def test_a_real_release_dropped_in_is_ingested_by_the_cycle(settings, calls, shared_data) -> None:
    import shutil

    real = settings.resolved_drop_dir() / "GEDEvent_v26_01_26_06_sahel.csv.gz"
    real.parent.mkdir(parents=True)
    shutil.copyfile(shared_data / "ucdp" / real.name, real)
    os.utime(real, (OLD, OLD))
    report = run_weekly_cycle(settings, date(2026, 7, 15))
    assert report.exit_code == 0, report.lines()
    (delta_line,) = [line for line in report.step("ingest").lines if real.name in line]
    rows = re.search(r"v26_01_26_06, ([\d,]+) rows read, ([\d,]+) kept, ([\d,]+) quarantined", delta_line)
    assert rows is not None, delta_line
    read, kept, quarantined = (int(g.replace(",", "")) for g in rows.groups())
    assert (
        read == 811 and kept + quarantined == read and quarantined >= 6
    )  # six rows break low <= best <= high
    assert f"{kept:,} new events, 0 superseded a stored row" in delta_line
    tables = load_store(events_dir(settings))
    assert len(tables.events) == kept and set(tables.events["iso3"]) <= {"MLI", "BFA", "NER"}
    assert calls.publish == [("2026-W29", events_dir(settings), settings)]


def test_the_summary_names_the_countries_whose_calibration_drifts(tmp_path, calls, monkeypatch) -> None:
    from tests.test_drift import verified_store

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store, settings = verified_store(tmp_path, n_weeks=14, bias_from=2)  # Mali runs 0.3 too high
    store.close()
    report = run_weekly_cycle(settings, date(2021, 5, 5))
    assert len(report.drifting) == 1 and report.drifting[0].startswith("MLI h4: forecast ")
    assert report.footer().endswith(f"; DRIFT in {report.drifting[0]}")
    assert report.step("verify").lines[1].startswith("DRIFT: published calibration drifts in MLI h4; ")
