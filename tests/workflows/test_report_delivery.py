"""End-to-end behaviour of ActivityRunWorkflow + ReportDeliveryWorkflow on a real dev server.

Anything that waits hours or days runs under time skipping V2: the parent is started
with skipping disabled (it must complete in real time without waiting for the sink),
then the delivery child's virtual clock is fast-forwarded.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus

from activities.notes import read_front_matter
from activity_core.dev.statehub import StateHub
from activity_core.domain import DeliveryState, RunOutcome
from tests.helpers import Stack, assert_eventually, run_steps


def _hub_sink(hub: StateHub, event_type: str = "daily_digest") -> list[dict[str, object]]:
    return [
        {"type": "working_memory"},
        {"type": "state_hub_progress", "event_type": event_type, "url": hub.url},
    ]


async def test_sink_up_note_and_exactly_one_event_with_same_run_id(
    stack: Stack, hub: StateHub
) -> None:
    stack.define("digest-up", sinks=_hub_sink(hub))
    result = await stack.run("digest-up")

    assert result.outcome == RunOutcome.RAN
    assert result.note_status == "written"
    assert result.report_path is not None
    front = read_front_matter(Path(result.report_path))
    assert front["activity_core_run_id"] == result.run_id
    assert front["activity_name"] == "digest-up"
    assert [d.workflow_id for d in result.deliveries] == [f"delivery-{result.run_id}-state_hub"]

    final = await stack.delivery(result.run_id, "state_hub").result()
    assert final.state == DeliveryState.DELIVERED
    assert final.attempts == 1
    events = hub.events("daily_digest")
    assert len(events) == 1
    assert events[0]["detail"]["activity_core_run_id"] == result.run_id
    assert events[0]["idempotency_key"] == f"{result.run_id}:state_hub"


async def test_hub_down_six_hours_parent_completes_and_delivery_lands_once(
    stack: Stack, hub: StateHub
) -> None:
    stack.define("digest-outage", sinks=_hub_sink(hub))
    hub.set_fault("refuse")
    with stack.env.with_time_skipping_disabled():
        parent = await stack.start_run("digest-outage")
        result = await parent.result()
    # The parent completed although the sink refuses connections.
    assert result.outcome == RunOutcome.RAN
    assert Path(result.report_path or "").exists()
    child = stack.delivery(result.run_id, "state_hub")

    async def first_attempt_failed() -> None:
        status = await stack.status(child)
        assert status.state == DeliveryState.WAITING
        assert status.last_error == "connection refused"

    await assert_eventually(first_attempt_failed)

    await stack.env.fast_forward(child, timedelta(hours=6))
    status = await stack.status(child)
    assert status.state == DeliveryState.WAITING
    # Default backoff 30 s, 2 min, 10 min, 30 min, 1 h, 2 h (then 4 h) with +-20 % jitter:
    # the first seven attempts fall within 6 h whatever the jitter, the eighth cannot.
    assert status.attempts == 7
    assert hub.events() == []

    hub.set_fault("none")
    await stack.env.fast_forward(child, timedelta(hours=5))
    final = await child.result()
    assert final.state == DeliveryState.DELIVERED
    assert final.attempts == 8
    events = hub.events("daily_digest")
    assert [e["detail"]["activity_core_run_id"] for e in events] == [result.run_id]


async def test_retry_now_wakes_a_waiting_delivery_before_its_timer(
    stack: Stack, hub: StateHub
) -> None:
    stack.define("digest-wake", sinks=_hub_sink(hub))
    hub.set_fault("503", retry_after=3600)
    with stack.env.with_time_skipping_disabled():
        result = await (await stack.start_run("digest-wake")).result()
    child = stack.delivery(result.run_id, "state_hub")

    async def waiting() -> None:
        status = await stack.status(child)
        assert status.state == DeliveryState.WAITING
        assert status.next_attempt_at is not None

    await assert_eventually(waiting)
    before = await stack.status(child)
    assert before.last_error is not None and before.last_error.startswith("HTTP 503")

    hub.set_fault("none")
    await child.signal("retry_now")
    final = await child.result()
    assert final.state == DeliveryState.DELIVERED
    assert final.attempts == 2
    assert final.delivered_at is not None and before.next_attempt_at is not None
    # Retry-After of one hour was honoured for the timer, and the signal beat it.
    assert final.delivered_at < before.next_attempt_at - timedelta(minutes=50)
    assert len(hub.events()) == 1


async def test_permanent_error_goes_dead_without_retrying_until_retry_now(
    stack: Stack, hub: StateHub
) -> None:
    stack.define("digest-400", sinks=_hub_sink(hub))
    hub.set_fault("400")
    with stack.env.with_time_skipping_disabled():
        result = await (await stack.start_run("digest-400")).result()
    assert result.outcome == RunOutcome.RAN
    child = stack.delivery(result.run_id, "state_hub")

    async def dead() -> None:
        status = await stack.status(child)
        assert status.state == DeliveryState.DEAD
        assert len(stack.alert_notes()) == 1

    await assert_eventually(dead)
    await stack.env.fast_forward(child, timedelta(days=2))
    status = await stack.status(child)
    assert status.state == DeliveryState.DEAD
    assert status.attempts == 1
    assert hub.stats.counts["fault_400"] == 1
    alert = read_front_matter(stack.alert_notes()[0])
    assert alert["alert_kind"] == "delivery_dead"
    assert alert["activity_core_run_id"] == result.run_id

    hub.set_fault("none")
    await child.signal("retry_now")
    final = await child.result()
    assert final.state == DeliveryState.DELIVERED
    assert final.attempts == 2
    assert len(hub.events()) == 1


async def test_horizon_exhausted_goes_dead_with_alert_note_and_can_be_given_up(
    stack: Stack, hub: StateHub
) -> None:
    stack.define(
        "digest-horizon",
        sinks=_hub_sink(hub),
        delivery={"backoff_seconds": [600], "then_every_seconds": 1800, "horizon_seconds": 7200},
    )
    hub.set_fault("refuse")
    with stack.env.with_time_skipping_disabled():
        result = await (await stack.start_run("digest-horizon")).result()
    child = stack.delivery(result.run_id, "state_hub")
    await stack.env.fast_forward(child, timedelta(hours=3))

    status = await stack.status(child)
    assert status.state == DeliveryState.DEAD
    # Attempts at 0, ~10 min, then every ~30 min, the last one exactly at the 2 h horizon.
    assert 5 <= status.attempts <= 7
    notes = stack.alert_notes()
    assert len(notes) == 1
    assert "not delivered to state_hub" in notes[0].read_text()
    assert read_front_matter(notes[0])["activity_core_run_id"] == result.run_id

    await child.signal("give_up")
    final = await child.result()
    assert final.state == DeliveryState.GIVEN_UP
    assert hub.events() == []


async def test_multi_day_outage_crosses_continue_as_new_and_delivers_once(
    stack: Stack, hub: StateHub
) -> None:
    stack.define("digest-long", sinks=_hub_sink(hub))
    hub.set_fault("refuse")
    with stack.env.with_time_skipping_disabled():
        result = await (await stack.start_run("digest-long")).result()
    child = stack.delivery(result.run_id, "state_hub")
    first_run_id = (await child.describe()).run_id

    await stack.env.fast_forward(child, timedelta(days=3))

    async def between_attempts() -> None:
        # Not mid-attempt: an attempt in flight would succeed once the hub is back.
        assert not (await child.describe()).raw_description.pending_activities

    await assert_eventually(between_attempts)
    status = await stack.status(child)
    assert status.state == DeliveryState.WAITING
    # Far more than the 7 attempts of the first hours. (Under time skipping V2 each
    # continue-as-new run starts with its clock pushed ahead by the skip so far, so
    # 3 virtual days hold fewer attempts than the 4 h schedule alone would give.)
    assert status.attempts >= 12
    current = await child.describe()
    assert current.run_id != first_run_id, "history should have continued as new"

    hub.set_fault("none")
    await stack.env.fast_forward(child, timedelta(hours=6))
    final = await child.result()
    assert final.state == DeliveryState.DELIVERED
    assert final.attempts == status.attempts + 1
    events = hub.events()
    assert len(events) == 1
    assert events[0]["detail"]["activity_core_run_id"] == result.run_id
    described = await child.describe()
    assert described.status == WorkflowExecutionStatus.COMPLETED


async def test_manual_trigger_of_a_cron_definition_bypasses_the_guard(stack: Stack) -> None:
    stack.define(
        "cron-by-hand",
        trigger_config={
            "trigger_type": "cron",
            "cron_expression": "0 3 1 1 *",
            "timezone": "Europe/Berlin",
            "misfire_policy": "skip",
        },
    )
    handle = await stack.start_run("cron-by-hand")
    result = await handle.result()
    assert result.outcome == RunOutcome.RAN
    assert result.trigger == "manual"
    assert result.report_path is not None
    # The misfire guard (which asks the server for fire times) never ran.
    remote, local = await run_steps(handle)
    assert remote == ["run_handler_and_note"]
    assert "load_definition" in local and "plan_fire" not in local
