"""An API app on a real store and the real dev server, reached through httpx's ASGI
transport (the app's lifespan runs as under uvicorn)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activity_core.api import create_app
from activity_core.settings import Settings
from activity_core.store import Store, migrate

WRITE = "write-token-0123456789"
READ = "read-token-0123456789"

ApiFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest_asyncio.fixture
async def api_factory(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[ApiFactory]:
    """Make API clients with given settings over one migrated SQLite store."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    await migrate.upgrade(store)
    defs = tmp_path / "definitions"
    defs.mkdir()

    @asynccontextmanager
    async def make(
        store_: Store | None = None, client: Client | None = None, **overrides: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        fields: dict[str, Any] = {
            "home": tmp_path / ".actcore",
            "definitions_dir": defs,
            "working_memory_dir": tmp_path / "notes",
            "api_token": WRITE,
            "api_read_token": READ,
            "web_ui_url": "http://ui.example",
            **overrides,
        }
        app = create_app(Settings(**fields), store=store_ or store, client=client or env.client)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                yield http

    yield make
    await store.close()


@pytest_asyncio.fixture
async def api(api_factory: ApiFactory) -> AsyncIterator[httpx.AsyncClient]:
    """An API client with the write token set."""
    async with api_factory() as http:
        http.headers["Authorization"] = f"Bearer {WRITE}"
        yield http
