"""What the Web UI shows of a delivery: its details panel says where the report goes,
until when it is retried, when the watchdog alerts and where the note is; every
activity in its history has a summary (the UI shows it instead of a bare type); a
failed attempt is a failed activity, not a green "completed"."""

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
    failures = []
    types: dict[int, str] = {}
    async for event in delivery.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            payload = event.user_metadata.summary
            types[event.event_id] = (
                event.activity_task_scheduled_event_attributes.activity_type.name
            )
            assert payload.data, types[event.event_id]
            (summary,) = await converter.decode([payload], [str])
            summaries.append(summary)
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failures.append(event.activity_task_failed_event_attributes.failure)
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
            assert types[scheduled] != "deliver", "a refused attempt must not show as completed"
    assert "deliver to state_hub (attempt 1)" in summaries
    (failure,) = failures  # one attempt so far, not retried by Temporal
    info = failure.application_failure_info
    assert (info.type, info.non_retryable) == ("DeliveryAttemptFailed", True)
    assert "connection refused" in failure.message
