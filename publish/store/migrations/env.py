"""Alembic environment of the scores store: migrations run on the connection civrisk hands over.

``publish.store.migrate`` opens the connection (its write lock taken, on SQLite with foreign keys off for
batch table copies) and passes it in ``config.attributes["connection"]``; there is no alembic.ini.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
# batch mode: on SQLite an ALTER that SQLite cannot do becomes copy-to-new-table-and-rename
context.configure(connection=connection, render_as_batch=True, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
