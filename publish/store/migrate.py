"""Opening a store safely: what the database holds, whether it may be used, and its Alembic migrations.

Before the store is used, :func:`open_checks` looks at what the URL points to and refuses (StoreUnusable,
one line, nothing written) a store that is

- **empty** (a zero-byte or missing ``scores.db``, a database without civrisk's tables, or tables without
  a single publication) while revision folders exist under the publications folder: it is not the store
  that recorded them, and publishing into it would hand out revision 1 again;
- **foreign**: a file that is not an SQLite database, or a database holding other tables than civrisk's;
- **damaged**: SQLite cannot read it.

Migrations (``publish/store/migrations``, Alembic, from the first schema on) run on the same code for both
backends. SQLite stores migrate automatically when opened (the embedded default needs no step);
PostgreSQL stores are migrated by ``civrisk store migrate``, run by the role that owns the tables (the
service roles may not change the schema): opening one that is behind is refused with that command.
A store created before migrations existed (tables, no ``alembic_version``) is brought to revision 0001
(which creates only what is missing) and migrated on from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DatabaseError, OperationalError

from publish.store.errors import StoreUnusable

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
CIVRISK_TABLES = frozenset(
    {
        "publications",
        "scores",
        "alerts",
        "verifications",
        "api_keys",
        "webhooks",
        "webhook_deliveries",
        "webhook_attempts",
        "publish_jobs",
        "alembic_version",
    }
)
_SQLITE_MAGIC = b"SQLite format 3\x00"
RESTORE_HINT = "restore it from its backup (docs/DEPLOY.md, 'Restore')"


@dataclass(frozen=True)
class StoreState:
    """What a store's database holds when it is opened."""

    version: str | None
    """Its Alembic revision (None: never migrated)."""
    has_tables: bool
    """Whether civrisk's tables exist at all."""
    n_publications: int


def _config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str:
    """Return the newest migration's revision id."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def describe(engine: Engine) -> str:
    """Return where the store is, for messages: the SQLite file, or the URL without its password."""
    if engine.dialect.name == "sqlite":
        return str(engine.url.database)
    return engine.url.render_as_string(hide_password=True)


def published_folders(publications_dir: Path | None) -> list[Path]:
    """Return the revision folders (``<week>/r<n>`` with a manifest) under ``publications_dir``."""
    if publications_dir is None or not publications_dir.is_dir():
        return []
    return sorted(p.parent for p in publications_dir.glob("*/r*/manifest.json"))


def check_sqlite_file(engine: Engine) -> bool:
    """Return whether the SQLite file exists with content; StoreUnusable if it is not an SQLite database."""
    if engine.dialect.name != "sqlite":
        return True
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return False
    path = Path(database)
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb") as fh:
        head = fh.read(len(_SQLITE_MAGIC))
    if head != _SQLITE_MAGIC:
        raise StoreUnusable(
            f"the scores store {path} is not an SQLite database (it starts with {head[:16]!r}): it is "
            f"damaged or not a civrisk store; {RESTORE_HINT}, or point CIVRISK_DB_URL at the right store"
        )
    return True


def store_state(engine: Engine) -> StoreState:
    """Return what the database holds; StoreUnusable if it is foreign or cannot be read."""
    where = describe(engine)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            ours = tables & CIVRISK_TABLES
            others = sorted(tables - CIVRISK_TABLES)
            if others and "publications" not in tables:
                raise StoreUnusable(
                    f"the database {where} is not a civrisk scores store: it holds tables {others[:8]} and "
                    "no 'publications'; point CIVRISK_DB_URL at a civrisk store or at a new, empty database"
                )
            version = (
                conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                if "alembic_version" in tables
                else None
            )
            n = (
                int(conn.execute(text("SELECT count(*) FROM publications")).scalar_one())
                if "publications" in tables
                else 0
            )
    except DatabaseError as exc:
        if isinstance(exc, OperationalError) and engine.dialect.name != "sqlite":
            raise  # unreachable server: the caller says so (503 in the API), the store is not damaged
        raise StoreUnusable(
            f"the scores store {where} cannot be read ({exc.orig}): it is damaged; {RESTORE_HINT}; "
            "`civrisk store check` lists what is wrong"
        ) from exc
    return StoreState(version, bool(ours - {"alembic_version"}), n)


def refuse_empty_beside_folders(
    engine: Engine, state: StoreState, publications_dir: Path | None, has_file: bool = True
) -> None:
    """Raise StoreUnusable when the store holds no publication but revision folders exist."""
    if state.n_publications:
        return
    folders = published_folders(publications_dir)
    if not folders:
        return
    what = "holds no publication" if state.has_tables else "is empty"
    if not has_file:
        what = "is missing or empty (0 bytes)"
    example = folders[-1].relative_to(publications_dir) if publications_dir else folders[-1]
    raise StoreUnusable(
        f"the scores store {describe(engine)} {what}, but {len(folders)} published revision folders exist "
        f"under {publications_dir} (e.g. {example}): it is not the store that recorded them, and publishing "
        f"into it would hand out their revision numbers again. {RESTORE_HINT[0].upper()}{RESTORE_HINT[1:]} "
        "or point CIVRISK_DB_URL at it; nothing was written"
    )


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the store to ``revision`` in one transaction, holding the store's write lock."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # batch migrations copy tables; SQLite ignores this PRAGMA inside a transaction, so set it
            # before BEGIN (on this connection only) and check the foreign keys before committing
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        conn.execution_options(civrisk_write=True)
        try:
            with conn.begin():
                command.upgrade(_config(conn), revision)
                if engine.dialect.name == "sqlite":
                    bad = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if bad:
                        raise StoreUnusable(f"migration left rows without their parent rows: {bad[:3]}")
        finally:
            if engine.dialect.name == "sqlite":
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def repair_guards(engine: Engine) -> None:
    """Re-create the guard triggers (after someone dropped or altered one; ``civrisk store check`` first)."""
    from publish.store.guards import pg_guard_ddl, sqlite_guard_ddl

    with engine.connect() as conn:
        conn.execution_options(civrisk_write=True)
        with conn.begin():
            # straight to the driver, no parameters: psycopg would read RAISE's '%' as placeholders
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            for ddl in sqlite_guard_ddl() if engine.dialect.name == "sqlite" else pg_guard_ddl():
                cursor.execute(ddl)
            cursor.close()


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the store back to ``revision`` (for tests of the migrations themselves)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        conn.execution_options(civrisk_write=True)
        with conn.begin():
            command.downgrade(_config(conn), revision)
