"""What the Web UI shows of a delivery: its details panel says where the report goes,
until when it is retried, when the watchdog alerts and where the note is; every
activity in its history has a summary (the UI shows it instead of a bare type)."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.converter import DataConverter

from activity_core.dev.statehub import StateHub
from activity_core.domain import DeliveryState
from tests.helpers import Stack, assert_eventually


async def test_a_waiting_deliverys_details_name_sink_horizon_threshold_and_note(
    stack: Stack, hub: StateHub
) -> None:
    stack.define(
        "detailed",
        sinks=[{"type": "state_hub_progress", "event_type": "d", "url": hub.url}],
        watch={"delivery_alert_after_seconds": 900},
        delivery={"horizon_seconds": 86400},
    )
    hub.set_fault("refuse")
    with stack.env.with_time_skipping_disabled():
        result = await (await stack.start_run("detailed")).result()
    delivery = stack.delivery(result.run_id, "state_hub")

    async def details() -> str:
        assert (await stack.status(delivery)).state == DeliveryState.WAITING
        meta = await delivery.query("__temporal_workflow_metadata")
        text: str = meta.current_details
        assert "**waiting**" in text, text
        return text

    text = await assert_eventually(details, within=30)
    assert f"- sink `state_hub` (state_hub_progress): {hub.url}" in text
    assert "(horizon), then dead with an alert" in text
    assert "- the watchdog alerts after 900 s undelivered" in text
    assert f"- report note: `{result.report_path}`" in text
    assert f"- run: `{result.run_id}`" in text

    converter = DataConverter.default
    summaries = []
    async for event in delivery.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            payload = event.user_metadata.summary
            assert payload.data, event.activity_task_scheduled_event_attributes.activity_type
            summaries.append(await converter.decode([payload], [str]))
    assert summaries, "the delivery made at least one attempt"
