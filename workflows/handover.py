"""Handing a report (or an alert) to durable delivery: workflow code shared by the run and
the watchdog. Starts an abandoned ReportDeliveryWorkflow child and awaits only its start.
A report's tasks are handed to its issue sinks the same way."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.ledger import LedgerActivities
    from activity_core.domain import (
        ActivityDefinition,
        DeliveryHandoff,
        DeliveryInput,
        DeliveryState,
        PersistNoteResult,
        Report,
    )
    from activity_core.domain import search_attributes as sa
    from activity_core.domain.report import delivery_workflow_id
    from activity_core.domain.tasks import TaskBatchRecord, TaskRecord, TaskState, task_records
    from workflows.ledger import write_ledger
    from workflows.report_delivery import ReportDeliveryWorkflow


async def start_delivery(
    inp: DeliveryInput,
    *,
    summary: str,
    task_queue: str | None = None,
    reject_duplicates: bool = False,
) -> bool:
    """Start an abandoned ReportDeliveryWorkflow child for ``inp`` (workflow code only).

    Its id is ``delivery-<run id>-<sink>``; only the start is awaited.

    Args:
        inp: What to deliver, where, and with which policy.
        summary: The child's static summary in the Web UI (cut to 200 bytes).
        task_queue: The child's task queue (default: the parent's).
        reject_duplicates: Refuse an id that ever ran (alerts), not only a running one.

    Returns:
        False when a child with that id already runs (or, with ``reject_duplicates``,
        ever ran); True when this call started it.
    """
    try:
        await workflow.start_child_workflow(
            ReportDeliveryWorkflow.run,
            inp,
            id=delivery_workflow_id(inp.run_id, inp.sink.name),
            task_queue=task_queue,
            id_reuse_policy=(
                WorkflowIDReusePolicy.REJECT_DUPLICATE
                if reject_duplicates
                else WorkflowIDReusePolicy.ALLOW_DUPLICATE
            ),
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            static_summary=summary[:200],
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.ACTIVITY_ID, inp.activity_id),
                    SearchAttributePair(sa.ACTIVITY_NAME, inp.activity_name),
                    SearchAttributePair(sa.DELIVERY_SINK, inp.sink.name),
                    SearchAttributePair(sa.DELIVERY_STATUS, DeliveryState.PENDING.value),
                ]
            ),
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


async def hand_over(inp: DeliveryInput, *, summary: str) -> DeliveryHandoff:
    """Start the delivery child of ``inp`` (see :func:`start_delivery`) and say what
    became of it: ``started``, or ``already_started`` by an earlier attempt of the run."""
    started = await start_delivery(inp, summary=summary)
    return DeliveryHandoff(
        sink=inp.sink.name,
        workflow_id=delivery_workflow_id(inp.run_id, inp.sink.name),
        status="started" if started else "already_started",
    )


async def hand_over_tasks(
    definition: ActivityDefinition,
    run_id: str,
    report: Report,
    note: PersistNoteResult,
    atq: str,
) -> list[DeliveryHandoff]:
    """Record the report's tasks in the ledger, then start one filing child per
    ``issue_core`` sink (``null`` sinks file nothing: a dry run). Returns the hand-overs."""
    now = workflow.now()
    records: list[TaskRecord] = []
    sinks = definition.issue_sinks
    for sink in sinks:
        backend = sink.backend or "null"
        state: TaskState = "pending" if backend == "issue_core" else "dry_run"
        records += task_records(
            report.tasks,
            run_id=run_id,
            sink=sink.name,
            activity_id=str(definition.id),
            activity_name=definition.name,
            backend=backend,
            state=state,
            at=now,
            labels=sink.labels,
        )
    if not sinks:
        records += task_records(
            report.tasks,
            run_id=run_id,
            sink="-",
            activity_id=str(definition.id),
            activity_name=definition.name,
            backend="none",
            state="not_emitted",
            at=now,
        )
    await write_ledger(
        LedgerActivities.record_tasks,
        TaskBatchRecord(records=records),
        f"ledger: {len(report.tasks)} task(s)",
    )
    handed: list[DeliveryHandoff] = []
    for sink in sinks:
        if sink.backend != "issue_core":
            continue
        handoff = await hand_over(
            DeliveryInput(
                run_id=run_id,
                activity_id=str(definition.id),
                activity_name=definition.name,
                sink=sink,
                tasks=report.tasks,
                policy=definition.delivery,
                note_path=note.path,
                alert_after_seconds=definition.watch.delivery_alert_after_seconds,
                activity_task_queue=atq,
            ),
            summary=f"file {len(report.tasks)} task(s) of {definition.name} at {sink.name}",
        )
        handed.append(handoff)
    return handed
