"""Delivery attempts run on their sink origin's own task queue, polled by every worker with
the sink's pace as the server-side limit; a sink no worker polls still gets its delivery."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from activity_core.dev.statehub import StateHub
from activity_core.domain import (
    DeliveryInput,
    DeliveryPolicy,
    DeliveryState,
    IssueSink,
    ProgressEvent,
    StateHubProgressSink,
    WebhookSink,
)
from activity_core.domain.report import sink_task_queue
from activity_core.sink_workers import SinkWorkers, queue_paces
from tests.helpers import Stack
from workflows.report_delivery import ReportDeliveryWorkflow


async def _attempts(handle: WorkflowHandle[Any, Any]) -> list[tuple[str, str]]:
    """(queue, outcome) of every delivery attempt in the history, in order."""
    scheduled: dict[int, str] = {}
    out: list[tuple[str, str]] = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name in ("deliver", "file_tasks"):
                scheduled[event.event_id] = attrs.task_queue.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            sid = event.activity_task_completed_event_attributes.scheduled_event_id
            if sid in scheduled:
                out.append((scheduled[sid], "completed"))
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            sid = event.activity_task_timed_out_event_attributes.scheduled_event_id
            if sid in scheduled:
                out.append((scheduled[sid], "timed out"))
    return out


@activity.defn(name="noop")
async def _noop() -> None:
    """Nothing: these pollers are only counted."""


def test_one_queue_per_origin_at_the_lowest_pace_asked_for() -> None:
    base = "act-q"
    a = WebhookSink(type="webhook", name="a", url="http://hub.example:8000/x")
    b = WebhookSink(type="webhook", name="b", url="http://hub.example:8000/y", pace_per_second=5)
    c = StateHubProgressSink(
        type="state_hub_progress", event_type="e", url="http://hub.example:8000"
    )
    other = WebhookSink(type="webhook", url="https://inbox.example/hook", pace_per_second=50)
    default_hub = StateHubProgressSink(type="state_hub_progress", event_type="e")
    dry = IssueSink(type="issue", backend="null", url="http://issues.example")
    paces = queue_paces([a, b, c, other, default_hub, dry, "not a sink"], base, 20.0)
    hub_q = sink_task_queue(a, base)
    assert sink_task_queue(b, base) == sink_task_queue(c, base) == hub_q
    assert hub_q.startswith("act-q.sink.hub.example-")
    assert paces[hub_q] == ("http://hub.example:8000", 5.0)
    assert paces[sink_task_queue(other, base)] == ("https://inbox.example:443", 50.0)
    assert paces[sink_task_queue(default_hub, base)] == ("default-state_hub_progress", 20.0)
    # A null issue sink sends nothing: no queue to poll.
    assert len(paces) == 3
    # Another deployment (activity queue) has its own queues.
    assert sink_task_queue(a, "other-q") != hub_q


async def test_attempts_run_on_the_sink_queue_of_a_definition_added_after_start(
    stack: Stack, hub: StateHub
) -> None:
    # The file is written after the worker started and read no sources since: the run
    # that loads it makes the worker poll its sink's queue at once.
    sink = {"type": "state_hub_progress", "event_type": "q", "url": hub.url, "pace_per_second": 7}
    stack.define("queued", sinks=[sink])
    result = await stack.run("queued")
    final = await stack.delivery(result.run_id, "state_hub").result()
    assert final.state == DeliveryState.DELIVERED and final.attempts == 1
    queue = sink_task_queue(StateHubProgressSink.model_validate(sink), stack.activity_tq)
    assert await _attempts(stack.delivery(result.run_id, "state_hub")) == [(queue, "completed")]
    assert len(hub.events("q")) == 1


async def test_a_sink_no_worker_polls_is_delivered_from_the_general_queue(
    stack: Stack, hub: StateHub
) -> None:
    # Started directly, for a sink no definition names: nobody polls its queue.
    sink = WebhookSink(type="webhook", name="orphan", url=f"{hub.url}/progress/")
    with stack.env.with_time_skipping_disabled():
        handle = await stack.client.start_workflow(
            ReportDeliveryWorkflow.run,
            DeliveryInput(
                run_id="orphan-run",
                activity_id="orphan",
                activity_name="orphan",
                sink=sink,
                event=ProgressEvent(event_type="orphan", summary="s", detail={}),
                policy=DeliveryPolicy(queue_wait_seconds=2),
                activity_task_queue=stack.activity_tq,
            ),
            id=f"delivery-orphan-{stack.activity_tq}",
            task_queue=stack.workflow_tq,
        )
        final = await asyncio.wait_for(handle.result(), 30)
    assert final.state == DeliveryState.DELIVERED and final.attempts == 1
    assert await _attempts(handle) == [
        (sink_task_queue(sink, stack.activity_tq), "timed out"),
        (stack.activity_tq, "completed"),
    ]
    assert DeliveryPolicy().queue_wait_seconds >= 300, "a backlog at the pace must not fall back"


async def test_sources_are_read_again_and_a_changed_pace_repolls(stack: Stack) -> None:
    hub_sink = WebhookSink(type="webhook", url="http://127.0.0.1:9/hook")
    listed: list[object] = [hub_sink]

    async def source() -> list[object]:
        return list(listed)

    async def broken() -> list[object]:
        raise OSError("registry down")

    sources = [source]
    pollers = SinkWorkers(
        stack.client,
        base_queue=f"{stack.activity_tq}-extra",
        activities=[_noop],
        default_pace=20.0,
        shared_limit=True,
        sources=[lambda: sources[0]()],
        refresh_seconds=0,
        graceful_shutdown=timedelta(seconds=5),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(pollers.run(stop))
    try:
        queue = sink_task_queue(hub_sink, f"{stack.activity_tq}-extra")
        for _ in range(50):
            if pollers.queues:
                break
            await asyncio.sleep(0.1)
        assert pollers.queues == {queue: 20.0}
        listed[0] = hub_sink.model_copy(update={"pace_per_second": 2.0})
        await pollers.refresh()
        assert pollers.queues == {queue: 2.0}
        # A source that fails keeps what is polled.
        sources[0] = broken
        await pollers.refresh()
        assert pollers.queues == {queue: 2.0}
    finally:
        stop.set()
        await task
    assert pollers.queues == {}
