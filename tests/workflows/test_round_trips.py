"""A run costs its work, not round trips: the definition and the misfire guard's fire
plan are read in the run's first workflow task (local activities); the handler and its
note are one trip through the activity queue."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType

from activity_core.domain import RunInput, RunOutcome
from tests.helpers import Stack, run_steps
from workflows.activity_run import ActivityRunWorkflow


async def test_a_scheduled_run_reads_its_definition_and_fire_plan_locally(stack: Stack) -> None:
    stack.define(
        "round-trips",
        trigger_config={
            "trigger_type": "interval",
            "every_seconds": 3600,
            "misfire_policy": "skip",
        },
    )
    handle = await stack.client.start_workflow(
        ActivityRunWorkflow.run,
        RunInput(
            activity_name="round-trips", trigger="schedule", activity_task_queue=stack.activity_tq
        ),
        id=f"round-trips-{stack.activity_tq}",
        task_queue=stack.workflow_tq,
    )
    result = await handle.result()
    assert result.outcome == RunOutcome.RAN
    remote, local = await run_steps(handle)
    tasks_before_handler = 0
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            break
        tasks_before_handler += event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    # The handler writes its note in the same activity: one trip through the task queue.
    assert remote == ["run_handler_and_note"]
    assert local[:2] == ["load_definition", "plan_fire"]
    tasks = [
        e
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    # Start; the report and its note back (no remote sink to hand over: finish).
    assert len(tasks) == 2
    # Definition, fire plan and the ledger's started row: all in the first workflow task.
    assert tasks_before_handler == 1
