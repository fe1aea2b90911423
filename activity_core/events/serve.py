"""``actcore router``: the event router as a process (NATS, Temporal and the store
connected, lag reported, stopped by SIGINT/SIGTERM). The routing is :mod:`.router`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from activity_core.catalog import Catalog
from activity_core.domain.events import DURABLE, STREAM
from activity_core.events.jetstream import connect_nats
from activity_core.events.router import Router
from activity_core.events.sources import DefinitionSource
from activity_core.services.registry import open_store
from activity_core.settings import Settings
from activity_core.telemetry import prometheus_runtime
from activity_core.temporal_client import connect
from activity_core.tracing import tracing_interceptors

log = logging.getLogger("activity_core.events.router")


async def serve_router(settings: Settings) -> None:
    """``actcore router``: connect to NATS, Temporal and the store, route until SIGTERM."""
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
    await router.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

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
