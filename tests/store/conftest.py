"""Store fixtures: every store test runs on SQLite and on a real PostgreSQL server
(``ACTCORE_TEST_DATABASE_URL``, else one started from the ``pgserver`` package)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from activity_core.store import Store, migrate


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    """An admin URL of a PostgreSQL server that lets tests create databases."""
    given = os.environ.get("ACTCORE_TEST_DATABASE_URL")
    if given:
        yield make_url(given).set(drivername="postgresql+asyncpg")
        return
    import pgserver

    data = Path(tmp_path_factory.mktemp("pg")) / "data"
    server = pgserver.get_server(data, cleanup_mode="stop")
    try:
        yield make_url(server.get_uri()).set(drivername="postgresql+asyncpg")
    finally:
        server.cleanup()


async def fresh_pg_database(admin: URL) -> str:
    """Create an empty database on the server; return its URL as a string."""
    name = f"actcore_test_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        await engine.dispose()
    return admin.set(database=name).render_as_string(hide_password=False)


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, once per engine."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'actcore.db'}"
    return await fresh_pg_database(request.getfixturevalue("pg_admin_url"))


@pytest_asyncio.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """A migrated store, once per engine."""
    s = Store(store_url)
    await migrate.upgrade(s)
    yield s
    await s.close()
