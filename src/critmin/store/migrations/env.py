"""Alembic environment for the critmin store: run with the connection :mod:`critmin.store.db` passes in."""

from __future__ import annotations

from alembic import context

from critmin.store.models import Base

config = context.config
connection = config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
