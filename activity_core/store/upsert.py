"""Idempotent upserts that keep the newest state, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
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


@lru_cache(maxsize=128)
def _upsert_statement(dialect: str, table: Table, key: str, columns: tuple[str, ...]) -> Any:
    """The upsert of ``columns`` into ``table``, built once per shape: building it (the
    ``excluded`` alias and its column proxies) cost more than executing it."""
    stmt = _insert(dialect, table)
    updates = {c: stmt.excluded[c] for c in columns if c != key}
    return stmt.on_conflict_do_update(
        index_elements=[key],
        set_=updates,
        where=table.c.updated_at < stmt.excluded.updated_at,
    )


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
        stmt = _upsert_statement(dialect, table, key, tuple(row))
        result = await session.execute(stmt, row)
        written += max(0, int(getattr(result, "rowcount", 0) or 0))
    return written
