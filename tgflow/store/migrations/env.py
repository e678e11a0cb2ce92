"""Alembic environment of the status database.

tgflow runs it in code (``tgflow.store.schema``), on a connection it has opened and locked; there is no
alembic.ini. ``render_as_batch`` lets the same revision alter tables on SQLite (which rebuilds the table).
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from tgflow.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run tgflow's migrations with `tgflow db upgrade` (they need tgflow's own connection)")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
