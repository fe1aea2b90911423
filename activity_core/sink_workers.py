"""Pollers of the sinks' own task queues: one pace per sink, shared by every worker.

A delivery attempt runs on ``<activity queue>.sink.<host>-<hash>`` (one queue per sink
origin, :func:`~activity_core.domain.report.sink_task_queue`). Every worker polls each such
queue with the origin's pace as ``max_task_queue_activities_per_second``: the server hands
out at most that many attempts per second in all, whatever the number of workers, and a
backlog waits on the server, not in a worker's memory.

Which queues to poll comes from the sinks this worker can know of: the definitions (files
and registry, read again every ``ACTCORE_SINK_REFRESH_SECONDS``), the alert sinks, and every
definition a run loads (at once, so a sink added through the API is polled by the first
worker that runs it). An attempt no worker picks up within the delivery policy's
``queue_wait_seconds`` is made on the general activity queue instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from activity_core.alerts import load_alert_sinks
from activity_core.catalog import Catalog
from activity_core.domain import IssueSink, StateHubProgressSink, WebhookSink
from activity_core.domain.constants import POLLER_SEEN_WITHIN
from activity_core.domain.report import sink_origin, sink_task_queue
from activity_core.settings import Settings

log = logging.getLogger(__name__)

SinkSource = Callable[[], Awaitable[Iterable[object]]]
"""Returns sinks (anything else is ignored) this worker should poll queues for."""
PACED_TYPES = (StateHubProgressSink, WebhookSink, IssueSink)
POLLERS_PER_QUEUE = 2
"""Long polls per sink queue and worker: enough for hundreds of attempts a second."""
SHARE_REFRESH_S = 5.0
"""How often a worker counts the processes polling its sink queues (its share of a pace)."""


@dataclass
class _Poller:
    worker: Worker
    task: asyncio.Task[None]
    pace: float | None


def queue_paces(
    sinks: Iterable[object], base_queue: str, default_pace: float
) -> dict[str, tuple[str, float]]:
    """Each sink queue under ``base_queue`` with (origin, pace): the lowest pace any sink
    of that origin asks for, else ``default_pace``."""
    explicit: dict[str, tuple[str, float | None]] = {}
    for sink in sinks:
        if not isinstance(sink, PACED_TYPES):
            continue
        if isinstance(sink, IssueSink) and sink.backend == "null":
            continue  # files nothing
        queue = sink_task_queue(sink, base_queue)
        _, pace = explicit.get(queue, (sink_origin(sink), None))
        if sink.pace_per_second is not None:
            pace = sink.pace_per_second if pace is None else min(pace, sink.pace_per_second)
        explicit[queue] = (sink_origin(sink), pace)
    return {q: (origin, pace or default_pace) for q, (origin, pace) in explicit.items()}


def _report_stop(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("sink queue poller stopped", extra={"error": repr(task.exception())})


class SinkWorkers:
    """Starts (and re-paces) one worker per sink queue of one activity queue."""

    def __init__(
        self,
        client: Client,
        *,
        base_queue: str,
        activities: Sequence[Callable[..., Any]],
        default_pace: float,
        shared_limit: bool,
        sources: Sequence[SinkSource],
        refresh_seconds: float,
        graceful_shutdown: timedelta,
    ) -> None:
        """Build; nothing polls before :meth:`run`.

        Args:
            client: Temporal client.
            base_queue: The activity queue the sink queues belong to.
            activities: The attempt activities (deliver, file_tasks).
            default_pace: Pace of a sink that sets none (``ACTCORE_WAKE_RATE``).
            shared_limit: Poll with the pace as the server-side limit (off: unlimited; each
                worker's own spacing is all that paces).
            sources: Where the sinks to poll for are read from.
            refresh_seconds: How often the sources are read again (0: at start only).
            graceful_shutdown: In-flight attempts get this long at shutdown.
        """
        self._client = client
        self._base = base_queue
        self._activities = list(activities)
        self._default = default_pace
        self._shared = shared_limit
        self._sources = list(sources)
        self._refresh = refresh_seconds
        self._graceful = graceful_shutdown
        self._pollers: dict[str, _Poller] = {}
        self._known: dict[str, tuple[str, float]] = {}
        self._running = False
        self._lock = asyncio.Lock()
        self._pending: set[asyncio.Task[None]] = set()
        self._sharers: dict[str, int] = {}

    def sharers(self, queue: str) -> int:
        """Worker processes polling ``queue`` as last counted (1 before the first count)."""
        return self._sharers.get(queue, 1)

    async def count_sharers(self) -> None:
        """Count the distinct worker processes (identities) polling each sink queue."""
        for queue in list(self._pollers):
            with contextlib.suppress(RPCError):
                response = await self._client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=self._client.namespace,
                        task_queue=TaskQueue(name=queue),
                        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                    )
                )
                now = datetime.now(UTC)
                seen = {
                    p.identity
                    for p in response.pollers
                    if now - p.last_access_time.ToDatetime(UTC) <= POLLER_SEEN_WITHIN
                }
                self._sharers[queue] = max(1, len(seen))

    @property
    def queues(self) -> dict[str, float | None]:
        """Queues polled now, with the server-side limit each is polled with."""
        return {q: p.pace for q, p in self._pollers.items()}

    @property
    def not_polling(self) -> list[str]:
        """Sink queues whose worker has stopped (a fatal poller error)."""
        return [q for q, p in self._pollers.items() if p.task.done()]

    def add(self, sinks: Iterable[object]) -> None:
        """Poll the queues of these sinks too (a definition a run just loaded)."""
        found = queue_paces(sinks, self._base, self._default)
        changed = {q: v for q, v in found.items() if self._merge(q, v)}
        if changed and self._running:
            task = asyncio.get_running_loop().create_task(self._apply())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def _merge(self, queue: str, value: tuple[str, float]) -> bool:
        known = self._known.get(queue)
        if known is not None and known[1] <= value[1]:
            return False
        self._known[queue] = value
        return True

    async def refresh(self) -> None:
        """Read every source again and poll what it names (a failing source keeps the
        queues it named before)."""
        sinks: list[object] = []
        for source in self._sources:
            try:
                sinks.extend(await source())
            except Exception as exc:  # a source down never stops the pollers already running
                log.warning("sink list unavailable", extra={"error": type(exc).__name__})
                return
        found = queue_paces(sinks, self._base, self._default)
        # A pace raised in the definitions is taken; a queue no longer named stays polled
        # (deliveries may still wait on it) until the worker restarts.
        for queue, value in found.items():
            self._known[queue] = value
        await self._apply()

    async def _apply(self) -> None:
        async with self._lock:
            for queue, (origin, pace) in list(self._known.items()):
                limit = pace if self._shared else None
                current = self._pollers.get(queue)
                if current is not None and current.pace == limit:
                    continue
                if current is not None:
                    # One worker per queue and client: the old one stops before the new.
                    await self._stop(self._pollers.pop(queue))
                worker = Worker(
                    self._client,
                    task_queue=queue,
                    activities=self._activities,
                    max_task_queue_activities_per_second=limit,
                    max_concurrent_activity_task_polls=POLLERS_PER_QUEUE,
                    # Attempts in hand wait for this process's slot: keep them to about
                    # two seconds of the pace, so none waits long and the rest stay on the
                    # server for the other workers.
                    max_concurrent_activities=max(4, math.ceil(2 * pace)),
                    graceful_shutdown_timeout=self._graceful,
                )
                task = asyncio.create_task(worker.run())
                task.add_done_callback(_report_stop)
                self._pollers[queue] = _Poller(worker, task, limit)
                log.info(
                    "polling sink queue",
                    extra={"queue": queue, "origin": origin, "pace_per_second": limit},
                )

    async def _stop(self, poller: _Poller) -> None:
        with contextlib.suppress(Exception):
            await poller.worker.shutdown()
        with contextlib.suppress(BaseException):
            await poller.task

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set, reading the sources every ``refresh_seconds``."""
        self._running = True
        try:
            await self.refresh()
            loop = asyncio.get_running_loop()
            next_refresh = loop.time() + self._refresh
            while not stop.is_set():
                if self._shared:
                    await self.count_sharers()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), SHARE_REFRESH_S)
                if not stop.is_set() and self._refresh > 0 and loop.time() >= next_refresh:
                    next_refresh = loop.time() + self._refresh
                    await self.refresh()
        finally:
            self._running = False
            async with self._lock:
                pollers, self._pollers = list(self._pollers.values()), {}
                await asyncio.gather(*(self._stop(p) for p in pollers))


def definition_sources(settings: Settings, catalog: Catalog) -> list[SinkSource]:
    """The sinks of the definitions in force (issue sinks with their backend decided as a
    run would)."""

    async def in_force() -> list[object]:
        return [
            s
            for d in await catalog.all()
            for s in d.with_issue_backend(settings.issue_sink_type).sinks
        ]

    return [in_force]


def alert_sources(settings: Settings) -> list[SinkSource]:
    """The watchdog's alert sinks (``ACTCORE_ALERTS_FILE``, else State Hub)."""

    async def alerts() -> list[object]:
        return list((await asyncio.to_thread(load_alert_sinks, settings.alerts_file)).sinks)

    return [alerts]
