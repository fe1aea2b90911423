"""A run costs its work, not round trips: the definition and the misfire guard's fire
plan are read in the run's first workflow task (local activities); only the handler and
the note go through the activity queue."""

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
    assert remote == ["run_handler", "persist_note"]
    assert local[:2] == ["load_definition", "plan_fire"]
    # Definition, fire plan and the ledger's started row: all in the first workflow task.
    assert tasks_before_handler == 1
