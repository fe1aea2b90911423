"""Alembic environment: migrations run on a connection the caller opened.

Run them with ``actcore db upgrade`` (or :func:`activity_core.store.migrate.upgrade`);
the worker and the dev stack apply them at start on the embedded SQLite default.
"""

from __future__ import annotations

from alembic import context

from activity_core.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `actcore db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
