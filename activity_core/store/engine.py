"""Connecting to the store: one async engine per process, from ``ACTCORE_DB_URL``.

SQLite (``sqlite+aiosqlite:///.actcore/actcore.db``, the default) runs in WAL mode with a
busy timeout, so the worker, the CLI and the API can share the file; PostgreSQL
(``postgresql+asyncpg://...``) is for production. A URL's password is never logged:
:func:`redact` is the only way it is printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_S = 5.0


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (safe for logs and errors)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` (SQLite: creates the file's directory)."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    elif parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"timeout": CONNECT_TIMEOUT_S, "command_timeout": 30}
    engine = create_async_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


class StoreFileGone(OSError):
    """The SQLite file this process opened was deleted or replaced under it."""


class Store:
    """The engine and a session factory; one per process (workers, CLI, API)."""

    def __init__(self, url: str) -> None:
        """Create the engine (no connection is made until the first query)."""
        self.url = url
        self.engine = create_engine(url)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )
        parsed = make_url(url)
        self._file: Path | None = None
        self._identity: tuple[int, int] | None = None
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            self._file = Path(str(parsed.database))
            event.listen(self.engine.sync_engine, "do_connect", self._not_recreated)
            event.listen(self.engine.sync_engine, "connect", self._remember)
            event.listen(self.engine.sync_engine, "checkout", self._still_there)

    def _identity_now(self) -> tuple[int, int] | None:
        assert self._file is not None
        try:
            info = os.stat(self._file)
        except FileNotFoundError:
            return None
        return info.st_dev, info.st_ino

    def _remember(self, _connection: Any, _record: Any) -> None:
        if self._identity is None:
            self._identity = self._identity_now()

    def _gone(self) -> StoreFileGone:
        return StoreFileGone(
            f"the SQLite file {self._file} was deleted or replaced under this process; "
            "restore it (or accept the new one) and restart the process"
        )

    def _not_recreated(self, *_args: Any) -> None:
        """A new connection after the file went away would create an empty one."""
        if self._identity is not None and self._identity_now() != self._identity:
            raise self._gone()

    def _still_there(self, _connection: Any, _record: Any, _proxy: Any) -> None:
        """Every connection handed out: the file is the one first opened. A deleted file
        would otherwise take every write on (lost at the process's exit) while /health
        says the database is fine."""
        if self._identity is not None and self._identity_now() != self._identity:
            raise self._gone()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @property
    def label(self) -> str:
        """Short and safe, for pages: ``SQLite actcore.db`` or ``PostgreSQL host/db``."""
        url = make_url(self.url)
        if url.get_backend_name() == "sqlite":
            return f"SQLite {Path(url.database or ':memory:').name}"
        return f"PostgreSQL {url.host or 'localhost'}/{url.database or ''}"

    @property
    def safe_url(self) -> str:
        """The URL without its password."""
        return redact(self.url)

    async def ping(self) -> None:
        """One ``SELECT 1`` (raises when the database does not answer)."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        """Dispose of the connection pool."""
        await self.engine.dispose()
