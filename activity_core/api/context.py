"""What every request shares: settings, the store, a Temporal client (connected lazily)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request, status
from temporalio.client import Client

from activity_core.catalog import Catalog
from activity_core.health import Health, temporal_check
from activity_core.settings import Settings
from activity_core.store import Ledger, Store, migrate
from activity_core.temporal_client import configured_namespace, connect

CONNECT_TIMEOUT_S = 5.0


@dataclass
class ApiContext:
    """Process-wide state of the API (``app.state.ctx``)."""

    settings: Settings
    store: Store | None
    client: Client | None = None
    board_cache: tuple[float, Any] | None = None
    """(monotonic time, view) of the last board built."""
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    catalog: Catalog = field(init=False)
    """The definitions in force (one per process: it remembers the last registry read)."""
    health: Health = field(init=False)
    """``/healthz`` and ``/readyz`` (on the API's port and ``ACTCORE_HEALTH_BIND_ADDR``)."""

    def __post_init__(self) -> None:
        self.catalog = Catalog(self.settings, self.store)
        self.health = Health("api")
        self.health.add("temporal", temporal_check(self._connected))
        if self.store is not None:
            self.health.add("database", self._database_check)

    async def _connected(self) -> Client:
        try:
            return await self.temporal()
        except HTTPException:
            raise ConnectionError("Temporal unreachable") from None

    async def _database_check(self) -> str | None:
        assert self.store is not None
        await self.store.ping()
        if not await migrate.is_current(self.store):
            return "schema behind: run `actcore db upgrade`"
        return None

    async def temporal(self) -> Client:
        """The Temporal client, connecting on first use.

        Raises:
            HTTPException: 503 when Temporal cannot be reached.
        """
        async with self._lock:
            if self.client is None:
                try:
                    self.client = await asyncio.wait_for(connect(), CONNECT_TIMEOUT_S)
                except Exception as exc:
                    raise HTTPException(
                        status.HTTP_503_SERVICE_UNAVAILABLE,
                        detail=f"Temporal unreachable ({type(exc).__name__}); try again",
                    ) from None
            return self.client

    def namespace(self) -> str:
        """The Temporal namespace this API reads (without connecting)."""
        return self.client.namespace if self.client is not None else configured_namespace()

    def need_store(self) -> Store:
        """The store, or 503 when it is turned off."""
        if self.store is None:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, detail="the store is off (ACTCORE_DB_URL=none)"
            )
        return self.store

    def ledger(self) -> Ledger:
        """The run ledger (503 when the store is off)."""
        return Ledger(self.need_store())


def ctx(request: Request) -> ApiContext:
    """FastAPI dependency: the process's context."""
    found: ApiContext = request.app.state.ctx
    return found
