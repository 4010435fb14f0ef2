"""The store guards its history (issue 8): closed publications, no REPLACE, guards checked when opened,
digests checked, an empty/foreign/damaged store refused beside published folders, migrations."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from publish.store import migrate
from publish.store.errors import PublicationDamaged, StoreUnusable
from publish.store.queries import PublicationChecks
from publish.store.schema import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, STORED_COLUMNS, metadata
from publish.store.store import ScoreStore
from tests.synth_scores import make_scores

AS_OF = datetime(2020, 5, 31, 23, 0, tzinfo=UTC)


@pytest.fixture()
def store(db_url):
    s = ScoreStore(db_url)
    s.record_publication("2020-W23", make_scores(n_regions=6), "m", "1", "fp", AS_OF)
    yield s
    s.close()


def _sql(store: ScoreStore, sql: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(sql))


def _count(store: ScoreStore, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _first_score_values(store: ScoreStore) -> str:
    with store.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM scores ORDER BY region_id, horizon, target LIMIT 1")).one()
    return ", ".join("NULL" if v is None else repr(v) for v in row)


def test_a_closed_publication_takes_no_new_row_and_no_replaced_one(store):
    pub = store.publication("2020-W23")
    row = _first_score_values(store)
    changed = row.replace(repr(0.0), repr(0.0))  # same key, any p: the key already exists
    if store.engine.dialect.name == "sqlite":
        attempts = [
            f"INSERT OR REPLACE INTO scores VALUES ({changed})",
            f"REPLACE INTO scores VALUES ({row})",
        ]
    else:
        attempts = [
            f"INSERT INTO scores VALUES ({row}) ON CONFLICT (publication_id, region_id, horizon, target) "
            "DO UPDATE SET p = 0.99"
        ]
    attempts.append(
        "INSERT INTO scores (publication_id, region_id, iso3, horizon, target, p, rank) "
        f"VALUES ({pub.id}, 'ZZZ-NEW', 'MLI', 1, 'civ_any', 0.5, 1)"
    )
    for sql in attempts:
        with pytest.raises(DatabaseError, match=re.escape("scores of a recorded publication are closed")):
            _sql(store, sql)
    assert _count(store, "scores") == pub.n_scores
    store.verify_publication(pub)  # the digest still holds


@pytest.mark.parametrize("table", ["alerts", "verifications", "publications"])
def test_recorded_rows_cannot_be_replaced(store, table):
    pub = store.publication("2020-W23")
    store.record_verification(pub.id, "brier", 0.1, 6)
    if table == "alerts":
        scores = store.scores("2020-W23")
        from forecasting.alert_levels import AlertLevels, HorizonLevels, LevelRule
        from publish.alerting.rules import AlertRules, evaluate_alerts

        # a level rule every score reaches, so there are alert rows to replace
        low = AlertLevels(tuple(HorizonLevels(h, LevelRule(0.01, 0.0, 1)) for h in (1, 4)))
        rules = AlertRules(levels=low, escalation=False)
        store.record_alerts(pub.id, evaluate_alerts(scores, None, store.open_alerts(), rules))
    with store.engine.connect() as conn:
        cols = list(conn.execute(text(f"SELECT * FROM {table} LIMIT 1")).keys())
    if store.engine.dialect.name == "sqlite":
        sql = f"REPLACE INTO {table} SELECT * FROM {table} ORDER BY id LIMIT 1"
        if table == "alerts":  # the example: an Alert turned into a Cancel
            sql = (
                f"REPLACE INTO alerts ({', '.join(cols)}) SELECT "
                + ", ".join("'Cancel'" if c == "msg_type" else c for c in cols)
                + " FROM alerts ORDER BY id LIMIT 1"
            )
    else:
        key = "id"
        sql = (
            f"INSERT INTO {table} SELECT * FROM {table} ORDER BY id LIMIT 1 ON CONFLICT ({key}) "
            f"DO UPDATE SET {cols[-1]} = EXCLUDED.{cols[-1]}"
        )
    before = _count(store, table)
    with pytest.raises(DatabaseError, match="append-only"):
        _sql(store, sql)
    assert _count(store, table) == before


def test_a_dropped_trigger_makes_the_store_refuse_writes(db_url):
    store = ScoreStore(db_url)
    pub = store.record_publication("2020-W23", make_scores(n_regions=4), "m", "1", "fp", AS_OF)
    on = "" if store.engine.dialect.name == "sqlite" else " ON scores"
    name = "scores_append_only_update" if not on else "scores_append_only"
    _sql(store, f"DROP TRIGGER {name}{on}")
    _sql(store, "UPDATE scores SET p = 0.5 WHERE horizon = 1 AND target = 'civ_any'")  # history rewritten
    store.close()
    reopened = ScoreStore(db_url)
    assert reopened.guard_problems == [f"trigger {name} is missing"]
    msg = f"refuses writes: its append-only guards were changed (trigger {name} is missing)"
    with pytest.raises(StoreUnusable, match=re.escape(msg)):
        reopened.record_publication(
            "2020-W24", make_scores(n_regions=4, week="2020-06-08"), "m", "1", "f", AS_OF
        )
    with pytest.raises(PublicationDamaged, match=re.escape("no longer match the digest recorded with them")):
        reopened.verify_publication(pub)
    checks = PublicationChecks(reopened.engine)
    for _ in range(2):  # the result is cached; the failure is raised each time
        with pytest.raises(PublicationDamaged, match=re.escape(f"publication 2020-W23 r1 (id {pub.id})")):
            checks.verify(pub)
    migrate.repair_guards(reopened.engine)
    assert ScoreStore(db_url).guard_problems == []
    reopened.close()


def test_an_empty_store_beside_published_folders_is_refused(tmp_path: Path):
    folders = tmp_path / "publications"
    (folders / "2020-W23" / "r1").mkdir(parents=True)
    (folders / "2020-W23" / "r1" / "manifest.json").write_text("{}")
    db = tmp_path / "scores.db"
    db.touch()  # zero bytes, as in the issue
    msg = (
        f"the scores store {db} is missing or empty (0 bytes), but 1 published revision folders exist under "
        f"{folders} (e.g. 2020-W23/r1): it is not the store that recorded them"
    )
    with pytest.raises(StoreUnusable, match=re.escape(msg)):
        ScoreStore(f"sqlite:///{db}", publications_dir=folders)
    assert db.stat().st_size == 0  # nothing was written
    ScoreStore(f"sqlite:///{db}").close()  # tables, but still no publication
    with pytest.raises(StoreUnusable, match=re.escape(f"the scores store {db} holds no publication, but 1")):
        ScoreStore(f"sqlite:///{db}", publications_dir=folders)


@pytest.mark.postgres
def test_an_empty_postgresql_store_beside_folders_is_refused(tmp_path: Path):
    from tests.store_backends import pg_server

    server = pg_server()
    url = server.clone(server.template("empty"))
    folders = tmp_path / "publications"
    (folders / "2020-W23" / "r1").mkdir(parents=True)
    (folders / "2020-W23" / "r1" / "manifest.json").write_text("{}")
    try:
        with pytest.raises(StoreUnusable, match=re.escape("holds no publication, but 1 published revision")):
            ScoreStore(url, publications_dir=folders)
    finally:
        server.drop(url)


def test_a_foreign_or_damaged_file_is_refused(tmp_path: Path):
    text_file = tmp_path / "notes.db"
    text_file.write_text("these are my notes, not a database\n")
    with pytest.raises(
        StoreUnusable, match=re.escape(f"the scores store {text_file} is not an SQLite database")
    ):
        ScoreStore(f"sqlite:///{text_file}")
    assert text_file.read_text().startswith("these are my notes")
    other = tmp_path / "other.db"
    import sqlite3

    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    msg = "is not a civrisk scores store: it holds tables ['customers'] and no 'publications'"
    with pytest.raises(StoreUnusable, match=re.escape(msg)):
        ScoreStore(f"sqlite:///{other}")
    good = tmp_path / "good.db"
    ScoreStore(f"sqlite:///{good}").close()
    data = bytearray(good.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the first page's schema area is garbage now
    good.write_bytes(bytes(data))
    with pytest.raises(StoreUnusable, match=re.escape(f"the scores store {good} cannot be read")):
        ScoreStore(f"sqlite:///{good}")


@pytest.fixture()
def blank_url(backend: str, tmp_path: Path):
    """Return the URL of a database with nothing in it (not even civrisk's migrations)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    from tests.store_backends import pg_server

    server = pg_server()
    name = f"civrisk_blank_{tmp_path.name[-20:].replace('-', '_').lower()}"
    with server.admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield server.url(name)
    server.drop(server.url(name))


def test_a_store_made_before_migrations_is_migrated_and_matches_the_schema(blank_url: str):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from publish.store.schema import make_engine

    url = blank_url
    engine = make_engine(url)
    migrate.upgrade(engine, "0001")  # what create_all made before Alembic: tables, no guards of 0002
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    engine.dispose()
    store = ScoreStore(url, migrate_schema=True)
    pub = store.record_publication("2020-W23", make_scores(n_regions=3), "m", "1", "fp", AS_OF)
    assert pub.status == "published" and store.guard_problems == []
    with store.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == migrate.head_revision()
        )
        from sqlalchemy import MetaData

        from serve.tables import metadata as serve_metadata

        both = MetaData()
        for table in [*metadata.tables.values(), *serve_metadata.tables.values()]:
            table.to_metadata(both)
        diff = compare_metadata(MigrationContext.configure(conn), both)
    assert diff == []  # the migrations make exactly the tables schema.py describes
    store.close()


@pytest.mark.postgres
def test_postgresql_behind_its_schema_is_refused_until_migrated():
    from tests.store_backends import pg_server

    server = pg_server()
    with server.admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "civrisk_unmigrated_t" WITH (FORCE)'))
        conn.execute(text('CREATE DATABASE "civrisk_unmigrated_t"'))
    url = server.url("civrisk_unmigrated_t")
    try:
        msg = "has no civrisk schema; this civrisk needs revision 0002: run `civrisk store migrate`"
        with pytest.raises(StoreUnusable, match=re.escape(msg)):
            ScoreStore(url)
        ScoreStore(url, migrate_schema=True).close()
        ScoreStore(url).close()
    finally:
        server.drop(url)


def test_the_scores_table_is_described_once():
    # the digest hashes STORED_COLUMNS in this order: it is part of every recorded scores_digest
    assert STORED_COLUMNS == (
        "region_id", "iso3", "horizon", "target", "p", "region_name", "expected", "q10", "q50", "q90", "rank",
    )  # fmt: skip
    assert REQUIRED_COLUMNS == ("region_id", "iso3", "horizon", "target", "p")
    assert OPTIONAL_COLUMNS == ("region_name", "expected", "q10", "q50", "q90", "rank")


def test_publish_refuses_a_zero_byte_store_beside_its_folders(tmp_path: Path, monkeypatch) -> None:
    """Issue 8, item 3: `civrisk publish` used to exit 0 with "revision 1: published" and rewrite r1."""
    from typer.testing import CliRunner

    from civrisk.settings import get_settings
    from cli.main import app

    home = tmp_path / "home"
    r1 = home / "publications" / "2020-W53" / "r1"
    r1.mkdir(parents=True)
    (r1 / "manifest.json").write_text('{"published": "before"}')
    (home / "scores.db").touch()
    monkeypatch.setenv("CIVRISK_HOME", str(home))
    monkeypatch.delenv("CIVRISK_DB_URL", raising=False)
    get_settings.cache_clear()
    try:
        got = CliRunner().invoke(app, ["publish", "--week", "2020-W53"])
    finally:
        get_settings.cache_clear()
    assert got.exit_code == 1
    line = got.output.strip()
    assert line.startswith(
        f"civrisk publish: the scores store {(home / 'scores.db').resolve()} is missing or empty"
    )
    assert "2020-W53/r1" in line and "Restore it from its backup" in line and "\n" not in line
    assert (r1 / "manifest.json").read_text() == '{"published": "before"}'
    assert (home / "scores.db").stat().st_size == 0


def test_migrations_go_down_and_up_again(blank_url: str) -> None:
    from publish.store.schema import make_engine

    engine = make_engine(blank_url)
    migrate.upgrade(engine)
    migrate.downgrade(engine, "0001")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    migrate.upgrade(engine)
    engine.dispose()
    store = ScoreStore(blank_url)
    assert store.guard_problems == []
    store.record_publication("2020-W23", make_scores(n_regions=2), "m", "1", "fp", AS_OF)
    store.close()


def test_store_commands_migrate_and_check_a_new_home(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from civrisk.settings import get_settings
    from cli.main import app

    monkeypatch.setenv("CIVRISK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CIVRISK_DB_URL", raising=False)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        got = runner.invoke(app, ["store", "migrate"])
        assert got.exit_code == 0 and got.output.strip().endswith("schema revision 0002")
        got = runner.invoke(app, ["store", "check"])
        assert got.exit_code == 0 and "store check: ok (0 publications" in got.output
        got = runner.invoke(app, ["store", "grant", "--publisher", "p", "--api", "a"])
        assert got.exit_code == 1
        assert "civrisk store grant: store grant is for PostgreSQL stores" in got.output
    finally:
        get_settings.cache_clear()
