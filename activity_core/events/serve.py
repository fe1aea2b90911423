"""``actcore router``: the event router as a process (NATS, Temporal and the store
connected, lag reported, stopped by SIGINT/SIGTERM). The routing is :mod:`.router`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time

import nats.errors
from nats.aio.client import Client as NATS
from temporalio.client import Client
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from activity_core.catalog import Catalog
from activity_core.domain.events import DURABLE, STREAM
from activity_core.events.jetstream import connect_nats
from activity_core.events.router import Router
from activity_core.events.sources import DefinitionSource
from activity_core.health import Health, ping_check, temporal_check
from activity_core.services.registry import open_store
from activity_core.settings import Settings
from activity_core.store import Store
from activity_core.telemetry import prometheus_runtime
from activity_core.temporal_client import connect
from activity_core.tracing import tracing_interceptors

log = logging.getLogger("activity_core.events.router")
STALLED_AFTER_S = 60.0
SETUP_WITHIN_S = 120.0


async def serve_router(settings: Settings) -> None:
    """``actcore router``: connect to NATS, Temporal and the store, route until SIGTERM."""
    health = Health("router")
    await health.start(settings.health_bind_addr)
    try:
        await _serve(settings, health)
    finally:
        await health.stop()


def add_checks(health: Health, router: Router, nc: NATS, store: Store | None) -> None:
    """Readiness of a router: NATS connected and the pull loop fetching, Temporal
    answering, the database answering when the store is on."""

    async def nats() -> str | None:
        if not nc.is_connected:
            return "disconnected" if not nc.is_reconnecting else "reconnecting"
        return None

    async def fetching() -> str | None:
        if router.last_fetch is None:
            return "not started"
        if router.fetch_error is not None:
            return f"fetch failing ({router.fetch_error})"
        idle = time.monotonic() - router.last_fetch
        # A batch in hand takes as long as its starts; only a loop gone quiet is a failure.
        return f"no fetch for {idle:.0f} s" if idle > STALLED_AFTER_S else None

    async def connected() -> Client:
        return router.client

    health.add("nats", nats)
    health.add("fetching", fetching)
    health.add("temporal", temporal_check(connected))
    if store is not None:
        health.add("database", ping_check(store.ping))


async def _setup_with_retries(router: Router) -> None:
    """Create or bind the stream and the consumer, retrying while NATS is not ready for it
    (another router is creating the replicated stream, a server is restarting); after
    ``SETUP_WITHIN_S`` the error ends the process and the orchestrator restarts it."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type((nats.errors.Error, TimeoutError, OSError)),
        wait=wait_exponential(multiplier=0.5, max=5),
        stop=stop_after_delay(SETUP_WITHIN_S),
        before_sleep=lambda state: log.warning(
            "stream setup failed; retrying",
            extra={"error": type(state.outcome.exception()).__name__ if state.outcome else None},
        ),
        reraise=True,
    ):
        with attempt:
            await router.setup()


async def _serve(settings: Settings, health: Health) -> None:
    runtime = prometheus_runtime(settings.prometheus_bind_addr)
    client = await connect(
        runtime=runtime, interceptors=tracing_interceptors(settings.trace_console)
    )
    store = await open_store(settings)
    nc = await connect_nats(settings, name="activity-core-event-router", persistent=True)
    js = nc.jetstream()
    router = Router(
        client, js, DefinitionSource(settings, Catalog(settings, store)), settings, runtime=runtime
    )
    await _setup_with_retries(router)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        health.drain()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal)
    add_checks(health, router, nc, store)
    health.serving()

    async def poll_lag() -> None:
        while True:
            with contextlib.suppress(Exception):
                await router.report_lag()
            await asyncio.sleep(settings.metrics_poll_seconds)

    lag_task = asyncio.create_task(poll_lag())
    log.info(
        "event router started",
        extra={
            "stream": STREAM,
            "consumer": DURABLE,
            "nats": [s.split("@")[-1] for s in settings.nats_servers()],
            "temporal": client.service_client.config.target_host,
            "store": store.safe_url if store is not None else "off",
        },
    )
    try:
        await router.run_until(stop)
    finally:
        lag_task.cancel()
        with contextlib.suppress(Exception):
            await nc.drain()
        if store is not None:
            await store.close()
    log.info("event router stopped", extra={"counts": dict(router.counts)})
