"""Idempotent upserts that keep the newest state, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def _insert(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")


async def upsert_newest(
    session: AsyncSession, table: Table, key: str, rows: Sequence[dict[str, Any]]
) -> int:
    """Insert ``rows``, or update the row with the same ``key`` when the incoming
    ``updated_at`` is newer. An older or equal state changes nothing, so replays, retries
    and writers racing each other converge on the latest state.

    Returns:
        How many rows were inserted or changed.
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    written = 0
    for row in rows:
        stmt = _insert(dialect, table).values(**row)
        updates = {c: stmt.excluded[c] for c in row if c != key}
        stmt = stmt.on_conflict_do_update(
            index_elements=[key],
            set_=updates,
            where=table.c.updated_at < stmt.excluded.updated_at,
        )
        result = await session.execute(stmt)
        written += max(0, int(getattr(result, "rowcount", 0) or 0))
    return written
