"""Closed publications: a publication is inserted ``open``, sealed ``published`` when it holds ``n_scores``
rows, and from then on no score is added or replaced; REPLACE of recorded rows is refused; PostgreSQL gets
the same guards as plpgsql triggers and code-point ("C") collation on the text columns pages sort by.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import importlib

from alembic import op
from sqlalchemy import String

# The guards' current definitions: a later migration that changes them re-creates them the same way.
from publish.store.guards import pg_guard_ddl, sqlite_guard_ddl

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_OLD_SQLITE_TRIGGERS = (
    "scores_append_only_update",
    "scores_append_only_delete",
    "alerts_append_only_update",
    "alerts_append_only_delete",
    "verifications_append_only_update",
    "verifications_append_only_delete",
    "publications_append_only_delete",
    "publications_append_only_update",
)
# text columns that pages and histories are ordered or compared by: byte order, as SQLite's BINARY
_C_COLLATED = {
    "publications": {"week_label": 8},
    "scores": {"region_id": 64, "iso3": 3, "target": 64},
    "alerts": {"alert_id": 300, "message_id": 320, "region_id": 64, "iso3": 3, "target": 64},
}


def _status_check(statuses: str) -> None:
    with op.batch_alter_table("publications", recreate="always" if _sqlite() else "auto") as batch:
        batch.drop_constraint("ck_publications_status", type_="check")
        batch.create_check_constraint("ck_publications_status", f"status IN ({statuses})")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _sqlite():
        for name in _OLD_SQLITE_TRIGGERS:  # the table copy below would trip them; recreated after it
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    _status_check("'open', 'published', 'withdrawn'")
    if _sqlite():
        for ddl in sqlite_guard_ddl():
            op.execute(ddl)
        return
    for table, columns in _C_COLLATED.items():
        for column, length in columns.items():
            op.alter_column(table, column, type_=String(length, collation="C"), existing_nullable=False)
    for ddl in pg_guard_ddl():
        op.execute(ddl)


def downgrade() -> None:
    if _sqlite():
        for ddl in sqlite_guard_ddl():
            if ddl.startswith("DROP"):
                op.execute(ddl)
    else:
        op.execute(
            "DROP FUNCTION IF EXISTS civrisk_append_only, civrisk_scores_closed, "
            "civrisk_publications_insert, civrisk_publications_update CASCADE"
        )
    _status_check("'published', 'withdrawn'")
    if _sqlite():
        first = importlib.import_module("publish.store.migrations.versions.0001_first_schema")
        for ddl in first._SQLITE_TRIGGERS:
            op.execute(ddl)
