"""Schema migrations (Alembic, shipped in the package): upgrade, downgrade, current, history.

Every call runs on a connection of the store's own async engine, so the same code
migrates SQLite and PostgreSQL, from the CLI, the worker or a test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from activity_core.store.engine import Store

MIGRATIONS = Path(__file__).parent / "migrations"


def config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the shipped migrations (and at ``connection``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision shipped."""
    found = ScriptDirectory.from_config(config()).get_current_head()
    assert found is not None
    return found


def history() -> list[tuple[str, str]]:
    """Every shipped revision, oldest first, with its message."""
    script = ScriptDirectory.from_config(config())
    return [(r.revision, r.doc or "") for r in reversed(list(script.walk_revisions()))]


async def _run(store: Store, fn: Any, *args: Any) -> Any:
    async with store.engine.begin() as conn:
        return await conn.run_sync(fn, *args)


async def upgrade(store: Store, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    await _run(store, lambda c: command.upgrade(config(c), revision))


async def downgrade(store: Store, revision: str) -> None:
    """Revert migrations down to ``revision`` (``-1``: one step; ``base``: everything)."""
    await _run(store, lambda c: command.downgrade(config(c), revision))


async def current(store: Store) -> str | None:
    """The revision the database is at (None: no schema yet)."""

    def read(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    found: str | None = await _run(store, read)
    return found


async def is_current(store: Store) -> bool:
    """The database is at the newest shipped revision."""
    return await current(store) == head()
