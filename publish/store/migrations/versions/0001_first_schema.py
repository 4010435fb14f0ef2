"""The first schema of the scores store, as civrisk created it before migrations (``create_all``).

Publications, scores, alerts and verifications with their SQLite append-only triggers, and the HTTP API's
tables. Frozen here as they were: later revisions change them. Idempotent: it creates only what is
missing, so a store made by ``create_all`` before Alembic (no ``alembic_version``) is brought to this
revision without touching what it has (``publish.store.migrate`` runs it, then stamps it).

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
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
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

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
    CheckConstraint("msg_type IN (" + "'Alert', 'Update', 'Cancel'" + ")", name="ck_alerts_msg_type"),
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

SCOPES = ("read", "admin")
FORMATS = ("json", "cap")
DELIVERY_STATUSES = ("pending", "delivered", "failed")
JOB_STATUSES = ("running", "succeeded", "failed")

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_id", String(32), nullable=False),  # public part of the key, shown in listings and logs
    Column("key_hash", String(64), nullable=False),  # hex HMAC-SHA256(pepper, secret part)
    Column("scope", String(16), nullable=False),
    Column("name", String(200), nullable=True),
    Column("created_at", DateTime, nullable=False),  # UTC, naive
    Column("revoked_at", DateTime, nullable=True),
    UniqueConstraint("key_id", name="uq_api_keys_key_id"),
    CheckConstraint("scope IN (" + ", ".join(f"'{s}'" for s in SCOPES) + ")", name="ck_api_keys_scope"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(2000), nullable=False),
    Column("secret", String(256), nullable=False),  # shared HMAC secret: needed in clear to sign
    Column("formats", String(32), nullable=False),  # comma-separated subset of FORMATS
    Column("description", String(200), nullable=True),
    Column("active", Integer, nullable=False, server_default="1"),
    Column("last_alert_row_id", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("webhook_id", Integer, ForeignKey("webhooks.id"), nullable=False),
    Column("alert_row_id", Integer, nullable=False),  # alerts.id of the message delivered
    Column("message_id", String(320), nullable=False),
    Column("format", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("delivered_at", DateTime, nullable=True),
    UniqueConstraint("webhook_id", "alert_row_id", "format", name="uq_deliveries_message_format"),
    CheckConstraint(
        "status IN (" + ", ".join(f"'{s}'" for s in DELIVERY_STATUSES) + ")", name="ck_deliveries_status"
    ),
    CheckConstraint("format IN (" + ", ".join(f"'{f}'" for f in FORMATS) + ")", name="ck_deliveries_format"),
)
Index("ix_deliveries_due", webhook_deliveries.c.status, webhook_deliveries.c.next_attempt_at)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", Integer, ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("attempt", Integer, nullable=False),  # 1, 2, ... per delivery
    Column("at", DateTime, nullable=False),
    Column("status_code", Integer, nullable=True),  # NULL: no HTTP response (refused, timeout, ...)
    Column("error", Text, nullable=True),
    Column("duration_ms", Float, nullable=False),
    Column("ok", Integer, nullable=False),
)
Index("ix_attempts_delivery", webhook_attempts.c.delivery_id)

publish_jobs = Table(
    "publish_jobs",
    metadata,
    Column("id", String(32), primary_key=True),  # uuid4 hex
    Column("week_label", String(8), nullable=True),  # None: the command's default week
    Column("command", Text, nullable=False),  # JSON list of argv
    Column("status", String(16), nullable=False),
    Column("pid", Integer, nullable=True),
    Column("returncode", Integer, nullable=True),
    Column("log_path", Text, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
    CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in JOB_STATUSES) + ")", name="ck_jobs_status"),
)


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


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind, checkfirst=True)
    if bind.dialect.name == "sqlite":
        for ddl in _SQLITE_TRIGGERS:
            op.execute(ddl)


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
