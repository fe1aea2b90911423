"""Sinks judged over every open delivery: dead deliveries of manual runs page, one outage
of one sink is one alert, ``status`` counts dead and waiting deliveries per definition, and
a delivery that continued as new is listed once, in its current state."""

from __future__ import annotations

import uuid
from datetime import timedelta

from activity_core.dev.statehub import StateHub
from activity_core.domain import DeliveryState, Severity, WatchdogState
from activity_core.domain.sink_alerts import SINK_ALERT_SUBJECT
from activity_core.services.runs import list_deliveries
from activity_core.services.status import status_report
from tests.helpers import Stack, assert_eventually


def _sink(hub: StateHub, name: str) -> list[dict[str, object]]:
    return [{"type": "state_hub_progress", "name": name, "event_type": "t", "url": hub.url}]


async def test_dead_deliveries_of_manual_runs_page_once_per_sink_and_show_in_status(
    stack: Stack, hub: StateHub
) -> None:
    sink = f"hub-{uuid.uuid4().hex[:6]}"
    stack.define("manual-a", sinks=_sink(hub, sink))
    stack.define("manual-b", sinks=_sink(hub, sink))
    stack.define(
        "scheduled-c",
        sinks=_sink(hub, sink),
        trigger_config={
            "trigger_type": "interval",
            "every_seconds": 86400,
            "misfire_policy": "skip",
        },
    )
    hub.set_fault("400")  # every delivery is refused for good: dead at once
    runs = [await stack.run(name) for name in ("manual-a", "manual-b", "manual-a", "scheduled-c")]

    async def all_dead() -> None:
        for r in runs:
            status = await stack.status(stack.delivery(r.run_id, sink))
            assert status.state == DeliveryState.DEAD

    await assert_eventually(all_dead)
    report = await status_report(stack.client, stack.settings, live=True)
    mine = [
        a
        for a in report.open_alerts
        if a.activity_id == SINK_ALERT_SUBJECT and a.activity_name == sink
    ]
    assert len(mine) == 1, [a.title() for a in mine]
    (alert,) = mine
    assert alert.severity == Severity.PAGE and alert.kind == "sink_dead"
    assert "4 dead (manual-a 2, manual-b 1, scheduled-c 1)" in alert.detail
    assert report.exit_code() == 1
    lines = report.render().splitlines()
    at = next(i for i, x in enumerate(lines) if x.startswith("scheduled-c"))
    assert "deliveries waiting 0, dead 1" in lines[at + 2]
    assert f"sink {sink}: 4 dead" in report.render()

    # The sink is fixed and the deliveries woken: one recovery notice, in a later pass.
    state = WatchdogState(
        open_alerts=[alert], sink_alerts={sink: alert.alert_id}, last_pass_at=report.at
    )
    hub.set_fault("none")
    for r in runs:
        await stack.delivery(r.run_id, sink).signal("retry_now")
    for r in runs:
        await stack.delivery(r.run_id, sink).result()
    from activities.watchdog_judge import judge

    plan = await judge(stack.client, stack.settings, names=[], lookback_seconds=None, state=state)
    assert [a.resolves for a in plan.advance.recovered if a.activity_name == sink] == [
        alert.alert_id
    ]
    assert sink not in plan.advance.state.sink_alerts


async def test_a_delivery_that_continued_as_new_is_listed_once_in_its_current_state(
    stack: Stack, hub: StateHub
) -> None:
    sink = f"inbox-{uuid.uuid4().hex[:6]}"
    stack.define("continued", sinks=_sink(hub, sink), delivery={"backoff_seconds": [60.0]})
    hub.set_fault("refuse")
    result = await stack.run("continued")
    handle = stack.delivery(result.run_id, sink)
    first_run = (await handle.describe()).run_id
    await stack.env.fast_forward(handle, timedelta(days=1))

    async def continued() -> None:
        assert (await handle.describe()).run_id != first_run

    await assert_eventually(continued)
    hub.set_fault("none")
    await handle.signal("retry_now")
    await handle.result()

    async def listed_once() -> None:
        listed = await list_deliveries(stack.client, live=False)
        rows = [r for r in listed if r.workflow_id == handle.id]
        assert [(r.status, r.execution) for r in rows] == [("delivered", "completed")]
        waiting = await list_deliveries(stack.client, "waiting", live=False)
        assert handle.id not in [r.workflow_id for r in waiting]

    await assert_eventually(listed_once)


async def test_listing_deliveries_survives_a_delivery_no_worker_polls(stack: Stack) -> None:
    """The operator lists deliveries while a worker is down: the list still comes, the row
    of the unreachable delivery says why it has no live status."""
    from activity_core.domain import DeliveryInput, StateHubProgressSink
    from activity_core.domain.delivery import ProgressEvent
    from workflows.report_delivery import ReportDeliveryWorkflow

    orphan = f"delivery-orphan-{uuid.uuid4().hex[:8]}"
    await stack.client.start_workflow(
        ReportDeliveryWorkflow.run,
        DeliveryInput(
            run_id="orphan",
            activity_id="orphan",
            activity_name="orphan",
            sink=StateHubProgressSink(type="state_hub_progress", event_type="t"),
            event=ProgressEvent(event_type="t", summary="s", detail={}),
        ),
        id=orphan,
        task_queue=f"nobody-polls-{uuid.uuid4().hex[:8]}",
    )

    async def listed() -> None:
        rows = {r.workflow_id: r for r in await list_deliveries(stack.client)}
        assert orphan in rows
        row = rows[orphan].as_dict()
        assert row["execution"] == "running" and "no live status" in str(row["last_error"])

    await assert_eventually(listed, within=60, interval=1)
    await stack.client.get_workflow_handle(orphan).terminate("test over")
