"""Tables of the scores store (SQLAlchemy Core) and the engine set-up that keeps SQLite honest.

Four append-only tables (see docs/PUBLISHING.md):

- ``publications``: one row per (week, revision); the model and the data fingerprint it was made from.
- ``scores``: the published numbers, keyed ``(publication_id, region_id, horizon, target)``.
- ``alerts``: one row per alert *message* (Alert, Update, Cancel); messages of one alert share ``alert_id``
  and point to the message before them (``previous_id``).
- ``verifications``: how a publication scored once its outcomes were observed.

Published rows are never updated or deleted. The store has no code path that does; on SQLite, triggers
also ABORT any UPDATE or DELETE (except moving a publication's status from ``published`` to
``withdrawn``), so a stray ``sqlite3`` session cannot rewrite history either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)

from civrisk.contracts import MSG_TYPES

metadata = MetaData()

PUBLICATION_STATUSES = ("published", "withdrawn")

publications = Table(
    "publications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("week", Date, nullable=False),  # Monday of the ISO publication week
    Column("week_label", String(8), nullable=False),  # "2020-W23"
    Column("revision", Integer, nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("model_version", String(200), nullable=False),
    Column("data_fingerprint", String(200), nullable=False),
    Column("scores_digest", String(64), nullable=False),  # sha256 of the canonical scores
    Column("n_scores", Integer, nullable=False),
    Column("as_of", DateTime, nullable=False),  # UTC, naive
    Column("created_at", DateTime, nullable=False),  # UTC, naive
    Column("status", String(16), nullable=False, server_default="published"),
    UniqueConstraint("week", "revision", name="uq_publications_week_revision"),
    CheckConstraint("revision >= 1", name="ck_publications_revision"),
    CheckConstraint(
        "status IN (" + ", ".join(f"'{s}'" for s in PUBLICATION_STATUSES) + ")", name="ck_publications_status"
    ),
)

scores = Table(
    "scores",
    metadata,
    Column("publication_id", Integer, ForeignKey("publications.id"), nullable=False),
    Column("region_id", String(64), nullable=False),
    Column("iso3", String(3), nullable=False),
    Column("region_name", String(200), nullable=True),
    Column("horizon", Integer, nullable=False),
    Column("target", String(64), nullable=False),
    Column("p", Float, nullable=False),  # probability (binary targets) or expected count (count targets)
    Column("expected", Float, nullable=True),  # count targets only: expected value (= p)
    Column("q10", Float, nullable=True),
    Column("q50", Float, nullable=True),
    Column("q90", Float, nullable=True),
    Column("rank", Integer, nullable=False),  # 1 = highest p within (publication, target, horizon)
    PrimaryKeyConstraint("publication_id", "region_id", "horizon", "target", name="pk_scores"),
    CheckConstraint("horizon >= 1", name="ck_scores_horizon"),
    CheckConstraint("rank >= 1", name="ck_scores_rank"),
    CheckConstraint("p >= 0", name="ck_scores_p_nonnegative"),
    # A row is a count row iff it has an expected value; every other row is a probability in [0, 1]
    # without quantiles.
    CheckConstraint(
        "expected IS NOT NULL OR (p <= 1 AND q10 IS NULL AND q50 IS NULL AND q90 IS NULL)",
        name="ck_scores_binary_p",
    ),
    CheckConstraint("q10 <= q50 AND q50 <= q90", name="ck_scores_quantiles_ordered"),
)
# The primary key serves filters by publication (and region); this one serves region history
# (one region, optionally one target/horizon, across weeks).
Index("ix_scores_region", scores.c.region_id, scores.c.target, scores.c.horizon)
# Pages of one week in published order (target, horizon, rank) read straight off this index, no sort.
Index(
    "ix_scores_rank",
    scores.c.publication_id,
    scores.c.target,
    scores.c.horizon,
    scores.c.rank,
    scores.c.region_id,
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(300), nullable=False),  # stable across the alert's messages
    Column("seq", Integer, nullable=False),  # 1 for the Alert, then 2, 3, ... for Updates and the Cancel
    Column("message_id", String(320), nullable=False),  # CAP identifier: "<alert_id>.<seq>"
    Column("publication_id", Integer, ForeignKey("publications.id"), nullable=False),
    Column("previous_id", Integer, ForeignKey("alerts.id"), nullable=True),
    Column("msg_type", String(8), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("region_id", String(64), nullable=False),
    Column("iso3", String(3), nullable=False),
    Column("region_name", String(200), nullable=True),
    Column("target", String(64), nullable=False),
    Column("horizon", Integer, nullable=False),
    Column("week", Date, nullable=False),  # publication week of this message
    Column("first_week", Date, nullable=False),  # week the alert opened
    Column("p", Float, nullable=True),  # NULL only for a Cancel sent because the region has no score
    Column("p_prev", Float, nullable=True),
    Column("level", Float, nullable=False),  # the alert holds while p >= level - hysteresis
    Column("reason", String(200), nullable=False),
    Column("drivers", Text, nullable=True),  # JSON [[group, p], ...], highest first
    Column("created_at", DateTime, nullable=False),  # UTC, naive, whole seconds = CAP <sent>
    UniqueConstraint("alert_id", "publication_id", name="uq_alerts_alert_publication"),
    UniqueConstraint("alert_id", "seq", name="uq_alerts_alert_seq"),
    UniqueConstraint("message_id", name="uq_alerts_message_id"),
    CheckConstraint(
        "msg_type IN (" + ", ".join(f"'{m}'" for m in MSG_TYPES) + ")", name="ck_alerts_msg_type"
    ),
    CheckConstraint("seq >= 1", name="ck_alerts_seq"),
    CheckConstraint("(seq = 1) = (previous_id IS NULL)", name="ck_alerts_previous"),
)
Index("ix_alerts_created_at", alerts.c.created_at)
Index("ix_alerts_publication", alerts.c.publication_id)
Index("ix_alerts_region", alerts.c.region_id)

verifications = Table(
    "verifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("publication_id", Integer, ForeignKey("publications.id"), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("target", String(64), nullable=True),
    Column("horizon", Integer, nullable=True),
    Column("value", Float, nullable=False),
    Column("n", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    CheckConstraint("n >= 0", name="ck_verifications_n"),
)
Index("ix_verifications_publication", verifications.c.publication_id)

_FROZEN = ("scores", "alerts", "verifications")
_SQLITE_TRIGGERS = [
    *(
        f"CREATE TRIGGER IF NOT EXISTS {t}_append_only_{op.lower()} BEFORE {op} ON {t} BEGIN "
        f"SELECT RAISE(ABORT, '{t} are append-only: published rows are never changed or deleted "
        f"(publish a new revision instead)'); END"
        for t in _FROZEN
        for op in ("UPDATE", "DELETE")
    ),
    "CREATE TRIGGER IF NOT EXISTS publications_append_only_delete BEFORE DELETE ON publications BEGIN "
    "SELECT RAISE(ABORT, 'publications are append-only: a publication is never deleted "
    "(withdraw it or publish a new revision instead)'); END",
    "CREATE TRIGGER IF NOT EXISTS publications_append_only_update BEFORE UPDATE ON publications "
    "WHEN NOT (OLD.status = 'published' AND NEW.status = 'withdrawn' AND "
    + " AND ".join(f"NEW.{c.name} IS OLD.{c.name}" for c in publications.columns if c.name != "status")
    + ") BEGIN SELECT RAISE(ABORT, 'publications are append-only: only the status may change, and only "
    "from published to withdrawn'); END",
]


def make_engine(url: str) -> Engine:
    """Return an engine for ``url``; on SQLite: WAL, foreign keys ON, explicit BEGIN, 30 s busy timeout."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    database = url.split("///", 1)[1] if "///" in url else ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself: pysqlite's implicit transactions skip it
        # before SELECTs, which would let another writer slip in between our read and our write.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers ask for BEGIN IMMEDIATE (take the write lock up front, so the revision number they
        # read cannot be taken by another process before they insert); readers begin DEFERRED.
        mode = "IMMEDIATE" if conn.get_execution_options().get("civrisk_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def create_schema(engine: Engine) -> None:
    """Create the tables, indexes and (on SQLite) the append-only triggers if they do not exist."""
    metadata.create_all(engine)
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            for ddl in _SQLITE_TRIGGERS:
                conn.exec_driver_sql(ddl)
