"""Worker entry: workflows on ``orchestrator-tq``, activities on ``task-execution-tq``.

Run with ``actcore worker`` or ``python -m activity_core.worker``. Stops cleanly on
SIGINT/SIGTERM (in-flight activities get the graceful-shutdown timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.context import ContextActivities
from activities.delivery import SinkActivities, default_http_client
from activities.handlers import HANDLERS
from activities.issues import IssueActivities
from activities.ledger import LedgerActivities
from activities.monitor import MonitorActivities
from activities.run import RunActivities
from activities.schedule import ScheduleActivities
from activities.watchdog import WatchdogActivities
from activity_core import logs
from activity_core.catalog import Catalog
from activity_core.domain.constants import (
    HANDLER_NAMES,
    ORCHESTRATOR_TQ,
    TASK_EXECUTION_TQ,
    WATCHDOG_TQ,
)
from activity_core.errors import HandlerRegistryError, MassRemovalRefused
from activity_core.health import Health, ping_check, temporal_check
from activity_core.loader import LoadedDefinitions, load_definitions, unset_token_envs
from activity_core.sandbox import workflow_runner
from activity_core.services.registry import SyncReport, actor, open_store, sync
from activity_core.settings import Settings, get_settings
from activity_core.sink_workers import (
    SinkSource,
    SinkWorkers,
    alert_sources,
    definition_sources,
)
from activity_core.store import Ledger, Store
from activity_core.telemetry import poll_gauges, prometheus_runtime
from activity_core.temporal_client import connect
from activity_core.tracing import tracing_interceptors
from workflows.registry import WATCHDOG_WORKFLOWS, WORKFLOWS

log = logging.getLogger(__name__)


@dataclass
class Workers:
    """The workers of a process and the HTTP client they share."""

    workers: list[Worker]
    http: httpx.AsyncClient
    sink_workers: list[SinkWorkers] = field(default_factory=list)
    """Pollers of the sinks' own queues (the pace shared by all workers)."""

    def not_polling(self) -> list[str]:
        """Task queues of this process that are not being polled."""
        stopped = [w.task_queue for w in self.workers if not w.is_running]
        return stopped + [q for s in self.sink_workers for q in s.not_polling]

    async def run_until(self, stop: asyncio.Event) -> None:
        """Poll every task queue until ``stop`` is set, then drain.

        Every worker is told to stop at the same moment (none takes a new task after
        ``stop``), running activities get the graceful-shutdown time, then all are gone.
        """
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(self.http)
            for worker in self.workers:
                await stack.enter_async_context(worker)
            sinks = [asyncio.create_task(s.run(stop)) for s in self.sink_workers]
            try:
                await stop.wait()
            finally:
                log.info("draining: every poller stops now")
                await asyncio.gather(
                    *(w.shutdown() for w in self.workers), *sinks, return_exceptions=True
                )


def check_handler_registry(registered: set[str] | None = None) -> None:
    """Fail at start when this worker's handlers differ from the names definitions may use.

    Definitions are validated against :data:`HANDLER_NAMES` (data, so loading a definition
    imports no activity code); this keeps that list and the registry in step.

    Raises:
        HandlerRegistryError: Names on one side only.
    """
    have = set(HANDLERS) if registered is None else registered
    missing = sorted(HANDLER_NAMES - have)
    extra = sorted(have - HANDLER_NAMES)
    if missing or extra:
        raise HandlerRegistryError(
            "handler registry out of step with HANDLER_NAMES "
            f"(activity_core/domain/constants.py): no implementation for {missing or 'none'}; "
            f"not in HANDLER_NAMES: {extra or 'none'}"
        )


def build_workers(
    client: Client,
    settings: Settings,
    *,
    workflow_task_queue: str = ORCHESTRATOR_TQ,
    activity_task_queue: str = TASK_EXECUTION_TQ,
    http: httpx.AsyncClient | None = None,
    runs: bool = True,
    watchdog_task_queue: str | None = None,
    store: Store | None = None,
    catalog: Catalog | None = None,
) -> Workers:
    """Create the run workers (orchestrator and execution) and/or the watchdog worker.

    Args:
        client: Connected Temporal client (with the pydantic data converter).
        settings: Worker settings.
        workflow_task_queue: Queue for run workflows.
        activity_task_queue: Queue for run activities.
        http: HTTP client for sinks (default: a pooled client with sane timeouts).
        runs: Poll the run queues (False for a watchdog-only process).
        watchdog_task_queue: Also poll this queue with the watchdog (None: no watchdog).
        store: The registry and ledger (None: definitions from files, no ledger rows).
        catalog: The definitions in force, shared by every part of the process (default:
            one over ``store``).
    """
    check_handler_registry()
    graceful = timedelta(seconds=settings.graceful_shutdown_seconds)
    http = http or default_http_client(settings)
    sink_acts = SinkActivities(http, settings)
    attempts: list[Callable[..., Any]] = [
        sink_acts.deliver,
        IssueActivities(sink_acts, settings).file_tasks,
    ]

    def sink_workers(base_queue: str, sources: list[SinkSource]) -> SinkWorkers:
        return SinkWorkers(
            client,
            base_queue=base_queue,
            activities=attempts,
            default_pace=settings.wake_rate,
            shared_limit=settings.sink_pacing,
            sources=sources,
            refresh_seconds=settings.sink_refresh_seconds,
            graceful_shutdown=graceful,
        )

    catalog = catalog or Catalog(settings, store)
    run_sinks = sink_workers(activity_task_queue, definition_sources(settings, catalog))
    run_acts = RunActivities(client, settings, store, on_definition=run_sinks.add, catalog=catalog)
    schedule_acts = ScheduleActivities(client, catalog.all, settings.aligned_start_seconds)
    ledger_acts = LedgerActivities(store, settings.ledger_write_timeout_seconds)
    ledger: list[Callable[..., Any]] = [
        ledger_acts.record_run,
        ledger_acts.record_delivery,
        ledger_acts.record_tasks,
    ]
    monitor_acts = MonitorActivities(client, http, settings)
    delivery_acts: list[Callable[..., Any]] = [
        *attempts,
        monitor_acts.register_waiting,
        monitor_acts.probe_sink,
        monitor_acts.wake_deliveries,
        monitor_acts.delivery_states,
    ]
    workers: list[Worker] = []
    pollers: list[SinkWorkers] = []
    if runs:
        pollers.append(run_sinks)
        workers.append(
            Worker(
                client,
                task_queue=workflow_task_queue,
                workflows=WORKFLOWS,
                workflow_runner=workflow_runner(fast=settings.fast_sandbox),
                # Local activities of the workflows: ledger writes, loading the definition
                # and the misfire guard's fire plan.
                activities=[*ledger, run_acts.load_definition, schedule_acts.plan_fire],
                max_cached_workflows=settings.max_cached_workflows,
                graceful_shutdown_timeout=graceful,
            )
        )
        workers.append(
            Worker(
                client,
                task_queue=activity_task_queue,
                activities=[
                    run_acts.load_definition,
                    run_acts.run_handler,
                    run_acts.run_handler_and_note,
                    run_acts.persist_note,
                    run_acts.write_alert_note,
                    schedule_acts.plan_fire,
                    ContextActivities(http, settings).resolve_context,
                    *delivery_acts,
                ],
                graceful_shutdown_timeout=graceful,
            )
        )
    if watchdog_task_queue is not None:
        pollers.append(sink_workers(watchdog_task_queue, alert_sources(settings)))
        watchdog_acts = WatchdogActivities(client, http, settings, store, catalog)
        workers.append(
            Worker(
                client,
                task_queue=watchdog_task_queue,
                workflows=WATCHDOG_WORKFLOWS,
                workflow_runner=workflow_runner(fast=settings.fast_sandbox),
                max_cached_workflows=settings.max_cached_workflows,
                activities=[
                    watchdog_acts.observe,
                    watchdog_acts.ping,
                    run_acts.write_alert_note,
                    *delivery_acts,
                    *ledger,
                ],
                graceful_shutdown_timeout=graceful,
            )
        )
    # This process's share of each sink's pace: the pace over the processes polling it.
    sink_acts.sharers = lambda queue: next(
        (p.sharers(queue) for p in pollers if queue in p.queues), 1
    )
    return Workers(workers, http, pollers)


async def serve(settings: Settings | None = None, *, role: str = "all") -> None:
    """Connect, validate definitions, and poll until SIGINT/SIGTERM.

    Args:
        settings: Worker settings (default: from the environment).
        role: ``all`` (runs and watchdog), ``runs`` or ``watchdog``.
    """
    settings = settings or get_settings()
    health = Health("worker" if role == "runs" else role)
    await health.start(settings.health_bind_addr)
    try:
        await _serve(settings, role, health)
    finally:
        await health.stop()


def add_checks(health: Health, client: Client, workers: Workers, store: Store | None) -> None:
    """Readiness of a worker process: Temporal answers, every queue is polled, and the
    database answers when the store is on."""

    async def pollers() -> str | None:
        stopped = workers.not_polling()
        return f"not polling {', '.join(stopped)}" if stopped else None

    async def connected() -> Client:
        return client

    health.add("temporal", temporal_check(connected))
    health.add("pollers", pollers)
    if store is not None:
        health.add("database", ping_check(store.ping))


async def _serve(settings: Settings, role: str, health: Health) -> None:
    loaded: LoadedDefinitions | None = None
    if not settings.skip_schedule_sync or settings.database_url() is None:
        # The files are imported (or, with the store off, served): fail fast when bad.
        loaded = load_definitions(
            settings.definitions_dir, settings.activity_timeout_seconds, settings.egress_policy()
        )
        for warning in loaded.warnings:
            log.warning(warning)
    runtime = prometheus_runtime(settings.prometheus_bind_addr)
    client = await connect(
        runtime=runtime, interceptors=tracing_interceptors(settings.trace_console)
    )
    store = await open_store(settings)
    catalog = Catalog(settings, store)
    report: SyncReport | None = None
    if loaded is None or settings.skip_schedule_sync:
        log.info("schedule sync skipped (SKIP_SCHEDULE_SYNC)")
    else:
        try:
            report = await sync(client, settings, store, loaded, who=actor("worker"))
        except MassRemovalRefused as exc:
            # Never prune everything at start: serve what is there, say why loudly.
            log.error("schedule sync refused; schedules left as they are", extra={"why": str(exc)})
            report = None
    if report is not None:
        written = [c for c in report.changes if c.action != "unchanged"]
        log.info(
            "schedules synced",
            extra={
                "changed": [f"{c.action} {c.label}" for c in written],
                "total": len(report.changes),
                "registry": "not synced" if report.imported is None else "synced",
            },
        )
    workers = build_workers(
        client,
        settings,
        runs=role in ("all", "runs"),
        watchdog_task_queue=WATCHDOG_TQ if role in ("all", "watchdog") else None,
        store=store,
        catalog=catalog,
    )
    in_force = await catalog.all()
    for problem in unset_token_envs(in_force, settings):
        log.error(problem)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        health.drain()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal)
    add_checks(health, client, workers, store)
    health.serving()
    log.info(
        "worker started",
        extra={
            "temporal": client.service_client.config.target_host,
            "namespace": client.namespace,
            "definitions": len(in_force),
            "catalogue": catalog.degraded or "registry",
            "task_queues": [w.task_queue for w in workers.workers],
            "store": store.safe_url if store is not None else "off",
        },
    )
    gauges = (
        asyncio.create_task(
            poll_gauges(
                client,
                runtime,
                settings.metrics_poll_seconds,
                Ledger(store).last_successes if store is not None else None,
                in_force=catalog.kinds,
            )
        )
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
        if store is not None:
            await store.close()
    log.info("worker stopped")


def main() -> None:
    """Entry point of ``python -m activity_core.worker``."""
    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
