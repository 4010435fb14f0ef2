"""Tables the HTTP API adds to the scores store: API keys, webhook subscriptions, deliveries, publish jobs.

They live in the same SQL database as the publications (one URL to back up) but in their own
``MetaData``; the store's migrations (publish/store/migrations) create them, like the publication
tables. Unlike those they are not append-only: a key can be revoked, a delivery moves from ``pending``
to ``delivered``.

- ``api_keys``: one row per key. Only ``key_hash`` (HMAC-SHA256 of the secret part, see serve/auth.py) is
  stored; the key itself is shown once, by ``civrisk apikey create``.
- ``webhooks``: a receiver URL, the shared secret it verifies signatures with, and the formats it wants.
  ``last_alert_row_id`` is the cursor: alert messages with a larger ``alerts.id`` are still to be queued.
- ``webhook_deliveries``: one row per (webhook, alert message, format) with its state and next try.
- ``webhook_attempts``: one row per HTTP attempt (status code or error, duration): the delivery log.
- ``publish_jobs``: background ``civrisk publish`` runs started by ``POST /v1/publish``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

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


def create_serve_schema(engine: Engine) -> None:
    """Create the API's tables if they do not exist (the migrations made them: this only checks)."""
    metadata.create_all(engine)


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """Yield a connection in one write transaction (BEGIN IMMEDIATE on SQLite, as the store's writes; on
    PostgreSQL the API's own advisory lock, so its writes never wait for a publication being recorded)."""
    with engine.connect() as conn:
        conn.execution_options(civrisk_write="serve")
        with conn.begin():
            yield conn
