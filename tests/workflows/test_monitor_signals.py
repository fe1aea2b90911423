"""The sink monitor takes ``delivery_waiting`` however it is sent: with or without the
optional ``not_before``, from an older worker or from ``temporal workflow signal``. The SDK
decodes a signal by the handler's types only when every parameter is passed, so a short
signal used to bring text where the others brought times, and the monitor's ordering
raised on the mix: its workflow task failed on every retry and no delivery was woken."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from temporalio.client import WorkflowExecutionStatus

from activity_core.dev.statehub import StateHub
from activity_core.domain import MonitorInput, StateHubProgressSink
from tests.helpers import Stack, assert_eventually
from workflows.sink_monitor import SinkMonitorWorkflow


async def test_short_full_and_hand_written_signals_order_one_waiting_list(
    stack: Stack, hub: StateHub
) -> None:
    hub.set_fault("refuse")
    sink = StateHubProgressSink(type="state_hub_progress", event_type="signals", url=hub.url)
    start = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    short, full, by_hand, zoned, bad = (f"d-{n}-{uuid.uuid4().hex[:6]}" for n in range(5))
    with stack.env.with_time_skipping_disabled():
        handle = await stack.client.start_workflow(
            SinkMonitorWorkflow.run,
            MonitorInput(sink=sink, activity_task_queue=stack.activity_tq),
            id=f"monitor-signals-{uuid.uuid4().hex[:8]}",
            task_queue=stack.workflow_tq,
            # Two of three parameters: arrives undecoded.
            start_signal="delivery_waiting",
            start_signal_args=[short, start + timedelta(minutes=2)],
        )
        await handle.signal("delivery_waiting", args=[full, start + timedelta(minutes=3), None])
        # What an operator types: no zone (UTC), another zone, and no time at all.
        await handle.signal("delivery_waiting", args=[by_hand, "2026-12-03T10:01:00"])
        await handle.signal("delivery_waiting", args=[zoned, "2026-12-03T11:04:00+01:00"])
        await handle.signal("delivery_waiting", args=[bad, "yesterday"])

        async def ordered() -> None:
            waiting = await handle.query(SinkMonitorWorkflow.waiting)
            assert waiting == [by_hand, short, full, zoned], waiting

        await assert_eventually(ordered, within=20)
        await handle.signal("delivery_done", args=[short])

        async def short_gone() -> None:
            assert await handle.query(SinkMonitorWorkflow.waiting) == [by_hand, full, zoned]

        await assert_eventually(short_gone, within=20)
        # Still probing: no workflow task failed on the mix.
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        await handle.terminate("test over")
