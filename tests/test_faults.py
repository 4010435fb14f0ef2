"""Publish killed (SIGKILL) at each step, in a child process: store and folders stay consistent, and
``civrisk store check`` finds every mismatch a damaged store or folder has."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from civrisk.settings import Settings, get_settings
from publish.publication.store_check import Finding, check_store
from publish.publication.week import PublishOptions, publish_model_week
from publish.store.faults import FAULT_ENV
from publish.store.store import ScoreStore
from tests.publish_fixtures import LATEST, WEEK, World

OPTIONS = PublishOptions(cap_status="Test")
POINTS = ("scores-inserted", "alerts-recorded", "files-written", "promoted", "committed")


def _publish(world: World, settings: Settings, week=LATEST, model=None):
    with ScoreStore.from_settings(settings) as store:
        return publish_model_week(
            week, model or world.model, world.events, world.coverage, None, store, settings, options=OPTIONS
        )


def _killed_child(world: World, settings: Settings, point: str) -> None:
    os.environ[FAULT_ENV] = point
    _publish(world, settings)


def _mismatches(settings: Settings) -> list[Finding]:
    with ScoreStore.from_settings(settings) as store:
        return [f for f in check_store(store, settings.resolved_publications_dir()) if f.kind == "mismatch"]


@pytest.mark.slow  # five publications killed in a forked child (~1 s each) and one re-run
def test_publish_killed_at_every_step_leaves_store_and_folders_consistent(
    world: World, tmp_path: Path, db_url: str
) -> None:
    settings = Settings(home=tmp_path / "home", db_url=db_url)
    _publish(world, settings, week=LATEST - WEEK, model=world.early_model)  # alerts exist already
    week_dir = settings.resolved_publications_dir() / "2020-W53"
    fork = multiprocessing.get_context("fork")
    for point in POINTS:  # each run starts from what the previous kill left
        child = fork.Process(target=_killed_child, args=(world, settings, point))
        child.start()
        child.join(120)
        assert child.exitcode == -signal.SIGKILL, point
        with ScoreStore.from_settings(settings) as store:
            revisions = [p.revision for p in store.publications("2020-W53")]
        found = _mismatches(settings)
        if point == "committed":  # recorded with its folder; the folder the "promoted" kill left is kept
            assert revisions == [1] and found == [] and (week_dir / "r1" / "manifest.json").is_file()
            (kept,) = (week_dir / ".orphaned").iterdir()
            assert kept.name.startswith("r1-") and (kept / "manifest.json").is_file()
        elif point == "promoted":  # renamed into place, killed before the commit: a folder, no record
            assert revisions == [] and [f.where for f in found] == [str(week_dir / "r1")]
        else:  # killed inside the transaction: nothing in the store, no folder
            assert revisions == [] and found == [] and not (week_dir / "r1").exists(), point
    again = _publish(world, settings)  # a later run finds the week published: nothing is rewritten
    assert not again.created and not again.rebuilt and _mismatches(settings) == []


def test_store_check_reports_every_mismatch(world: World, tmp_path: Path, monkeypatch) -> None:
    settings = Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'scores.db'}")
    first = _publish(world, settings, week=LATEST - WEEK, model=world.early_model)
    second = _publish(world, settings)
    assert _mismatches(settings) == []
    folder = first.folder
    (folder / "report.html").write_text("rewritten")
    (folder / "extra.txt").write_text("not published")
    doc = json.loads((second.folder / "scores.json").read_text())
    doc["scores"][0]["p"] = 0.999
    (second.folder / "scores.json").write_text(json.dumps(doc))
    stray = settings.resolved_publications_dir() / "2020-W53" / "r7"
    stray.mkdir()
    with ScoreStore.from_settings(settings) as store, store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER scores_append_only_update")
        conn.exec_driver_sql(f"UPDATE scores SET p = 0.5 WHERE publication_id = {first.publication.id}")
    lines = [f.line() for f in _mismatches(settings)]
    expected = [
        "mismatch: database: trigger scores_append_only_update is missing",
        "no longer match the digest recorded with them",
        f"mismatch: {folder / 'extra.txt'}: file is not listed in manifest.json",
        f"mismatch: {folder / 'report.html'}: sha256 differs from manifest.json: the file was changed",
        f"mismatch: {second.folder / 'scores.json'}: sha256 differs from manifest.json",
        f"mismatch: {second.folder / 'scores.json'}: its scores differ from the store's (digest mismatch)",
        f"mismatch: {stray}: folder of a revision the store does not record",
    ]
    for text in expected:
        assert sum(text in line for line in lines) == 1, (text, lines)
    assert len(lines) == len(expected)
    # the command prints them and exits 1
    from cli.main import app

    monkeypatch.setenv("CIVRISK_HOME", str(settings.home))
    monkeypatch.setenv("CIVRISK_DB_URL", settings.resolved_db_url())
    get_settings.cache_clear()
    try:
        got = CliRunner().invoke(app, ["store", "check"])
    finally:
        get_settings.cache_clear()
    assert got.exit_code == 1
    assert "store check: 7 mismatches" in got.output and "digest mismatch" in got.output
