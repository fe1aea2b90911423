"""Worker entry: workflows on ``orchestrator-tq``, activities on ``task-execution-tq``.

Run with ``actcore worker`` or ``python -m activity_core.worker``. Stops cleanly on
SIGINT/SIGTERM (in-flight activities get the graceful-shutdown timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from datetime import timedelta

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.context import ContextActivities
from activities.delivery import SinkActivities, default_http_client
from activities.monitor import MonitorActivities
from activities.run import RunActivities
from activities.schedule import ScheduleActivities
from activity_core import logs
from activity_core.constants import ORCHESTRATOR_TQ, TASK_EXECUTION_TQ
from activity_core.definitions import load_definitions
from activity_core.schedules import sync_schedules
from activity_core.settings import Settings, get_settings
from activity_core.telemetry import poll_delivery_gauges, prometheus_runtime
from activity_core.temporal_client import connect
from activity_core.tracing import tracing_interceptors
from workflows.registry import WORKFLOWS

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN = timedelta(seconds=20)


@dataclass
class Workers:
    """The two workers of a process and the HTTP client they share."""

    orchestrator: Worker
    execution: Worker
    http: httpx.AsyncClient

    async def run_until(self, stop: asyncio.Event) -> None:
        """Poll both task queues until ``stop`` is set, then shut down gracefully."""
        async with self.http, self.orchestrator, self.execution:
            await stop.wait()


def build_workers(
    client: Client,
    settings: Settings,
    *,
    workflow_task_queue: str = ORCHESTRATOR_TQ,
    activity_task_queue: str = TASK_EXECUTION_TQ,
    http: httpx.AsyncClient | None = None,
) -> Workers:
    """Create the orchestrator and execution workers.

    Args:
        client: Connected Temporal client (with the pydantic data converter).
        settings: Worker settings.
        workflow_task_queue: Queue for workflows.
        activity_task_queue: Queue for activities.
        http: HTTP client for sinks (default: a pooled client with sane timeouts).
    """
    http = http or default_http_client(settings)
    run_acts = RunActivities(client, settings)
    sink_acts = SinkActivities(http, settings)
    monitor_acts = MonitorActivities(client, http, settings)
    orchestrator = Worker(client, task_queue=workflow_task_queue, workflows=WORKFLOWS)
    execution = Worker(
        client,
        task_queue=activity_task_queue,
        activities=[
            run_acts.load_definition,
            run_acts.run_handler,
            run_acts.persist_note,
            run_acts.write_alert_note,
            sink_acts.deliver,
            ScheduleActivities(client).plan_fire,
            ContextActivities(http, settings).resolve_context,
            monitor_acts.register_waiting,
            monitor_acts.probe_sink,
            monitor_acts.wake_deliveries,
        ],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )
    return Workers(orchestrator, execution, http)


async def serve(settings: Settings | None = None) -> None:
    """Connect, validate definitions, and poll until SIGINT/SIGTERM."""
    settings = settings or get_settings()
    loaded = load_definitions(
        settings.definitions_dir, settings.activity_timeout_seconds
    )  # fail fast on bad definitions
    for warning in loaded.warnings:
        log.warning(warning)
    runtime = prometheus_runtime(settings.prometheus_bind_addr)
    client = await connect(
        runtime=runtime, interceptors=tracing_interceptors(settings.trace_console)
    )
    if settings.skip_schedule_sync:
        log.info("schedule sync skipped (SKIP_SCHEDULE_SYNC)")
    else:
        changes = await sync_schedules(client, loaded.definitions)
        written = [c for c in changes if c.action != "unchanged"]
        log.info(
            "schedules synced",
            extra={"changed": [f"{c.action} {c.label}" for c in written], "total": len(changes)},
        )
    workers = build_workers(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker started",
        extra={
            "temporal": client.service_client.config.target_host,
            "namespace": client.namespace,
            "definitions": len(loaded.definitions),
            "task_queues": [ORCHESTRATOR_TQ, TASK_EXECUTION_TQ],
        },
    )
    gauges = (
        asyncio.create_task(poll_delivery_gauges(client, runtime, settings.metrics_poll_seconds))
        if runtime is not None
        else None
    )
    if runtime is not None:
        log.info("prometheus metrics", extra={"bind": settings.prometheus_bind_addr})
    try:
        await workers.run_until(stop)
    finally:
        if gauges is not None:
            gauges.cancel()
    log.info("worker stopped")


def main() -> None:
    """Entry point of ``python -m activity_core.worker``."""
    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
