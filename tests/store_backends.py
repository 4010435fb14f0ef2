"""Both store backends for the store, publication and API suites: SQLite files and a real PostgreSQL.

PostgreSQL comes from ``CIVRISK_TEST_PG_URL`` (``.ci/postgres start DIR`` starts a loopback cluster and
prints one; .ci/run exports it). Without it the PostgreSQL params skip with that reason, unless
``CIVRISK_TEST_PG_REQUIRED=1`` (set by .ci/run): then a missing or unreachable server fails the tests.

Isolation without truncation: each test gets its own database, cloned (``CREATE DATABASE ... TEMPLATE``,
~50 ms) from a template migrated (and, for the API suites, filled) once per session, and dropped after.
"""

from __future__ import annotations

import atexit
import os
import time
import uuid
from collections.abc import Callable
from functools import lru_cache

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

PG_URL_ENV = "CIVRISK_TEST_PG_URL"
PG_REQUIRED_ENV = "CIVRISK_TEST_PG_REQUIRED"
BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))


class PgServer:
    """A PostgreSQL server the tests may create and drop databases on."""

    def __init__(self, base_url: str) -> None:
        self.base = make_url(base_url)
        self.admin: Engine = create_engine(self.base, isolation_level="AUTOCOMMIT", pool_size=1)
        self._templates: dict[str, str] = {}
        self._prefix = f"civrisk_t{os.getpid()}_"
        atexit.register(self.drop_all)

    def url(self, database: str) -> str:
        """Return the URL of ``database`` on this server (password included)."""
        return self.base.set(database=database).render_as_string(hide_password=False)

    def template(self, name: str, fill: Callable[[str], None] | None = None) -> str:
        """Return the name of a migrated template database (filled by ``fill(url)``), made once."""
        if name not in self._templates:
            from publish.store.store import ScoreStore

            db = f"{self._prefix}tmpl_{name}"
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{db}"'))
            ScoreStore(self.url(db), migrate_schema=True).close()
            if fill is not None:
                fill(self.url(db))
            self._templates[name] = db
        return self._templates[name]

    def clone(self, template: str) -> str:
        """Return the URL of a new database copied from ``template``."""
        db = f"{self._prefix}{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{db}" TEMPLATE "{template}"'))
        return self.url(db)

    def drop(self, url: str) -> None:
        """Drop the database of ``url`` (closing whatever connections are still open to it)."""
        db = make_url(url).database
        with self.admin.connect() as conn:
            # sessions a test closed may still be ending on the server: let them go before FORCE, which
            # may not terminate sessions of roles this one is not a member of (the roles test's)
            deadline = time.monotonic() + 10
            while (
                time.monotonic() < deadline
                and conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = :db AND usename <> current_user"
                    ),
                    {"db": db},
                ).scalar_one()
            ):
                time.sleep(0.05)
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))

    def drop_all(self) -> None:
        """Drop every database this session made (at exit)."""
        try:
            with self.admin.connect() as conn:
                names = conn.execute(
                    text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": self._prefix + "%"}
                ).scalars()
                for db in list(names):
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        finally:
            self.admin.dispose()


@lru_cache(maxsize=1)
def _server() -> PgServer | str:
    url = os.environ.get(PG_URL_ENV)
    if not url:
        return (
            f"PostgreSQL not configured: set {PG_URL_ENV} (`.ci/postgres start DIR` starts a loopback server "
            "and prints its URL)"
        )
    try:
        server = PgServer(url)
        with server.admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach it becomes the skip (or failure) reason
        where = make_url(url).render_as_string()
        return f"PostgreSQL at {where} does not answer: {exc.__class__.__name__}: {exc}"
    return server


def pg_server() -> PgServer:
    """Return the test server; skip (or fail, when CIVRISK_TEST_PG_REQUIRED=1) if there is none."""
    server = _server()
    if isinstance(server, str):
        if os.environ.get(PG_REQUIRED_ENV) == "1":
            pytest.fail(f"{server} ({PG_REQUIRED_ENV}=1: CI must test PostgreSQL)")
        pytest.skip(server)
    return server
