"""Handing a report (or an alert) to durable delivery: workflow code shared by the run and
the watchdog. Starts an abandoned ReportDeliveryWorkflow child and awaits only its start."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activity_core.domain import DeliveryInput, DeliveryState
    from activity_core.domain import search_attributes as sa
    from activity_core.domain.report import delivery_workflow_id
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
