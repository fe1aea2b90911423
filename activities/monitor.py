"""Activities of the sink recovery monitor: register a waiting delivery, probe, wake."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta

import httpx
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from activity_core.domain import (
    DeliverySink,
    IssueSink,
    RegisterWaitingInput,
    StateHubProgressSink,
    WakeInput,
)
from activity_core.domain.recover import SeenDelivery
from activity_core.domain.search_attributes import DELIVERY_STATUS
from activity_core.settings import Settings

WAITING_SIGNAL = "delivery_waiting"
BUSY = frozenset({408, 425, 429})
"""Answers that say "not now": a probe getting one counts the sink as down."""
MONITOR_WORKFLOW = "SinkMonitorWorkflow"  # by name: activities never import workflows


def health_url(sink: DeliverySink, settings: Settings) -> str:
    """What is probed: State Hub's or issue-core's ``/health``, or a webhook's own URL."""
    if isinstance(sink, StateHubProgressSink):
        return f"{(sink.url or settings.state_hub_url).rstrip('/')}/health"
    if isinstance(sink, IssueSink):
        return f"{(sink.url or settings.issue_core_url or '').rstrip('/')}/health"
    return sink.url


class MonitorActivities:
    """Monitor activities; one instance per worker."""

    def __init__(self, client: Client, http: httpx.AsyncClient, settings: Settings) -> None:
        """Build once per worker with its Temporal client, HTTP client and settings."""
        self._client = client
        self._http = http
        self._settings = settings

    @activity.defn(name="register_waiting")
    async def register_waiting(self, inp: RegisterWaitingInput) -> None:
        """Tell the sink's monitor about a waiting delivery, starting the monitor if needed."""
        await self._client.start_workflow(
            MONITOR_WORKFLOW,
            inp.monitor,
            id=inp.monitor_id,
            task_queue=inp.workflow_task_queue,
            start_signal=WAITING_SIGNAL,
            start_signal_args=[inp.delivery_id, inp.since, inp.not_before],
            static_summary=f"recovery monitor for sink {inp.monitor.sink.name}",
        )

    @activity.defn(name="probe_sink")
    async def probe_sink(self, sink: DeliverySink) -> bool:
        """True when the sink answers and is not asking us to wait: a status below 500
        other than 408, 425 and 429 (a webhook's 405 to GET is an answer). Never raises
        for the sink."""
        url = health_url(sink, self._settings)
        try:
            response = await self._http.get(url, timeout=5.0)
        except httpx.HTTPError:
            return False
        return response.status_code < 500 and response.status_code not in BUSY

    @activity.defn(name="wake_deliveries")
    async def wake_deliveries(self, inp: WakeInput) -> int:
        """Signal ``retry_now`` to each delivery, at most ``rate`` per second."""
        rate = inp.rate_per_second or self._settings.wake_rate
        return await paced_retry_now(
            self._client, inp.delivery_ids, rate, activity.heartbeat, inp.recovered_by
        )

    @activity.defn(name="delivery_states")
    async def delivery_states(self, delivery_ids: list[str]) -> dict[str, SeenDelivery]:
        """Each delivery's state and attempts (``gone`` when it does not exist)."""

        async def one(delivery_id: str) -> tuple[str, SeenDelivery]:
            handle = self._client.get_workflow_handle(delivery_id)
            try:
                desc = await handle.describe()
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                return delivery_id, SeenDelivery(state="gone")
            state = desc.typed_search_attributes.get(DELIVERY_STATUS) or "pending"
            if desc.status != WorkflowExecutionStatus.RUNNING:
                return delivery_id, SeenDelivery(state=state)
            try:
                live = await handle.query("status", rpc_timeout=timedelta(seconds=5))
            except (RPCError, WorkflowQueryFailedError):
                return delivery_id, SeenDelivery(state=state)
            got = live if isinstance(live, dict) else {}
            return delivery_id, SeenDelivery(
                state=str(got.get("state", state)), attempts=int(got.get("attempts", -1))
            )

        gate = asyncio.Semaphore(20)

        async def gated(delivery_id: str) -> tuple[str, SeenDelivery]:
            async with gate:
                return await one(delivery_id)

        return dict(await asyncio.gather(*(gated(d) for d in delivery_ids)))


async def paced_retry_now(
    client: Client,
    delivery_ids: list[str],
    rate: float,
    progress: Callable[[int], object] | None = None,
    recovered_by: str | None = None,
) -> int:
    """Signal ``retry_now`` to each delivery in order, at most ``rate`` per second.

    Returns:
        How many were signalled (deliveries that already finished are skipped).
    """
    interval = 1.0 / rate
    woken = 0
    next_at = time.monotonic()
    for i, delivery_id in enumerate(delivery_ids):
        delay = next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        # Never catch up with a burst after a slow signal: fall behind instead.
        next_at = max(next_at, time.monotonic()) + interval
        try:
            handle = client.get_workflow_handle(delivery_id)
            await (
                handle.signal("retry_now", recovered_by)
                if recovered_by
                else handle.signal("retry_now")
            )
            woken += 1
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        if progress is not None and i % 20 == 0:
            progress(i)
    return woken
