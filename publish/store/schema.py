"""Tables of the scores store (SQLAlchemy Core) and the engine set-up that keeps SQLite honest.

Four append-only tables (see docs/PUBLISHING.md):

- ``publications``: one row per (week, revision); the model and the data fingerprint it was made from.
- ``scores``: the published numbers, keyed ``(publication_id, region_id, horizon, target)``.
- ``alerts``: one row per alert *message* (Alert, Update, Cancel); messages of one alert share ``alert_id``
  and point to the message before them (``previous_id``).
- ``verifications``: how a publication scored once its outcomes were observed.

These tables are the one description of the store's rows: the column lists below (what a score row
holds, what a caller must give) are derived from them. The database is created and changed only by the
Alembic migrations under ``publish/store/migrations`` (a test checks they produce these tables), and the
triggers that keep history append-only live in :mod:`publish.store.guards`.
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

PUBLICATION_STATUSES = ("open", "published", "withdrawn")
"""``open`` only while its recording transaction inserts the scores; sealed ``published`` in the same
transaction (the database checks the row count then), so no committed publication is ever open."""

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


SCORE_KEY = ("region_id", "horizon", "target")
"""One score per region, horizon and target in a publication (with ``publication_id``: the primary key)."""
STORED_COLUMNS = tuple(
    [c.name for c in scores.columns if not c.nullable and c.name not in ("publication_id", "rank")]
    + [c.name for c in scores.columns if c.nullable]
    + ["rank"]
)
"""A score row's columns in canonical order (required ones, then optional ones, then the rank). The scores
digest hashes them in this order, so it is part of every recorded ``scores_digest``: never reorder it."""
REQUIRED_COLUMNS = STORED_COLUMNS[: STORED_COLUMNS.index("region_name")]
"""What a caller must give for each score; the rest may be absent (the rank is computed)."""
OPTIONAL_COLUMNS = STORED_COLUMNS[len(REQUIRED_COLUMNS) :]
SCORE_COLUMNS = ("publication_id", "week", "revision", *STORED_COLUMNS)
"""Columns of every scores frame the store returns: the row, plus its publication's week and revision."""
FLOAT_COLUMNS = tuple(c.name for c in scores.columns if isinstance(c.type, Float))

_LOCK_KEYS = {"store": 0x63697672, "serve": 0x63697673}
"""PostgreSQL advisory lock per kind of writer (``pg_advisory_xact_lock``), taken at BEGIN of a write."""


def make_engine(url: str) -> Engine:
    """Return an engine for ``url`` whose write transactions are serialised like SQLite's.

    SQLite: WAL, foreign keys ON, recursive triggers ON, explicit BEGIN (IMMEDIATE for writes), 30 s busy
    timeout. PostgreSQL: a write transaction takes a transaction-scoped advisory lock first, so the
    revision number a publisher reads cannot be taken by another one before it inserts.
    """
    if not url.startswith("sqlite"):
        engine = create_engine(url, pool_pre_ping=True)

        @event.listens_for(engine, "begin")
        def _on_pg_begin(conn: Connection) -> None:
            kind = conn.get_execution_options().get("civrisk_write")
            if kind:
                key = _LOCK_KEYS["serve" if kind == "serve" else "store"]
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({key})")

        return engine
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
        # a REPLACE that deletes a row fires the DELETE triggers too (belt and braces: the INSERT
        # triggers refuse a REPLACE of a recorded row on any connection)
        cur.execute("PRAGMA recursive_triggers=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers ask for BEGIN IMMEDIATE (take the write lock up front, so the revision number they
        # read cannot be taken by another process before they insert); readers begin DEFERRED.
        mode = "IMMEDIATE" if conn.get_execution_options().get("civrisk_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
