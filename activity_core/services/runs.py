"""Runs and deliveries from the client side: start a run now, list deliveries, wake them.

The CLI, the dev stack (and the REST API) call these; none of them starts a run or reads a
delivery any other way.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from activities.monitor import paced_retry_now
from activity_core.domain import ActivityDefinition, DeliveryState, DeliveryStatus, run_start
from activity_core.domain import search_attributes as sa
from activity_core.domain.constants import ORCHESTRATOR_TQ, REPORT_DELIVERY_WORKFLOW
from workflows.activity_run import ActivityRunWorkflow
from workflows.report_delivery import ReportDeliveryWorkflow

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
"""Definition and sink names as a filter may name them (no quotes, no spaces)."""
LIVE_QUERIES = 16
"""Live status queries in flight at once."""
LIVE_QUERY_TIMEOUT = timedelta(seconds=5)
"""How long one live query may take (a delivery no worker polls never answers)."""


def manual_run_id(definition: ActivityDefinition, now: datetime | None = None) -> str:
    """Workflow id of a manual run: ``activity-run-<name>-manual-<UTC time>-<random>``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"activity-run-{definition.name}-manual-{stamp}-{secrets.token_hex(2)}"


async def start_manual_run(
    client: Client, definition: ActivityDefinition, *, task_queue: str = ORCHESTRATOR_TQ
) -> WorkflowHandle[Any, Any]:
    """Start ActivityRunWorkflow for a definition now (manual runs bypass the misfire guard)."""
    start = run_start(definition, "manual")
    return await client.start_workflow(
        ActivityRunWorkflow.run,
        start.input,
        id=manual_run_id(definition),
        task_queue=task_queue,
        static_summary=start.summary,
        static_details=start.details,
        search_attributes=start.search_attributes,
    )


@dataclass
class DeliveryRow:
    """One delivery workflow as seen in visibility (plus its live status when asked)."""

    workflow_id: str
    activity_name: str
    sink: str
    status: str
    execution: str
    started_at: str
    live: DeliveryStatus | None = None
    note: str | None = None
    """Why the live status is missing, when it is."""

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("live", "note")}
        if self.note:
            out["last_error"] = self.note
        if self.live is not None:
            out["attempts"] = self.live.attempts
            out["last_error"] = self.live.last_error
            if self.live.items_total is not None:
                # Issue sinks: how much of the batch is filed (partial batches show).
                out["filed"] = f"{self.live.items_done}/{self.live.items_total}"
            out["next_attempt_at"] = (
                self.live.next_attempt_at.isoformat() if self.live.next_attempt_at else None
            )
        return out


async def list_deliveries(
    client: Client,
    status: str | None = None,
    *,
    live: bool = True,
    limit: int = 1000,
    activity: str | None = None,
) -> list[DeliveryRow]:
    """Delivery workflows, newest first, optionally filtered on ``DeliveryStatus`` and
    ``ActivityName`` (the definition, or the sink of an alert delivery).

    Raises:
        ValueError: ``status`` is not a delivery state, or ``activity`` not a name (neither
            is ever pasted into the visibility query unchecked).
    """
    # A delivery that continued as new is one delivery: its closed runs keep the state they
    # closed in (waiting), so only the current run of each chain is listed.
    query = f"WorkflowType = '{REPORT_DELIVERY_WORKFLOW}' AND ExecutionStatus != 'ContinuedAsNew'"
    if status:
        query += f" AND DeliveryStatus = '{DeliveryState(status).value}'"
    if activity is not None:
        if not NAME.fullmatch(activity):
            raise ValueError(f"{activity[:40]!r} is not a definition or sink name")
        query += f" AND ActivityName = '{activity}'"
    rows: list[DeliveryRow] = []
    open_rows: list[DeliveryRow] = []
    closed_rows: list[DeliveryRow] = []
    async for ex in client.list_workflows(query, limit=limit):
        attrs = ex.typed_search_attributes
        row = DeliveryRow(
            workflow_id=ex.id,
            activity_name=attrs.get(sa.ACTIVITY_NAME) or "?",
            sink=attrs.get(sa.DELIVERY_SINK) or "?",
            status=attrs.get(sa.DELIVERY_STATUS) or "?",
            execution=ex.status.name.lower() if ex.status else "?",
            started_at=ex.start_time.isoformat(),
        )
        if live and ex.status is not None and ex.status.name == "RUNNING":
            open_rows.append(row)
        elif live and ex.status is not None and ex.status.name == "COMPLETED":
            closed_rows.append(row)
        rows.append(row)
    gate = asyncio.Semaphore(LIVE_QUERIES)

    async def ask(row: DeliveryRow) -> None:
        handle = client.get_workflow_handle_for(ReportDeliveryWorkflow.run, row.workflow_id)
        async with gate:
            try:
                row.live = await handle.query(
                    ReportDeliveryWorkflow.status, rpc_timeout=LIVE_QUERY_TIMEOUT
                )
            except RPCError as err:
                # A query needs a worker: with none polling (the worker is down, the very
                # moment an operator looks) the row keeps what visibility says.
                row.note = f"no live status: {err.message}"

    async def ended(row: DeliveryRow) -> None:
        # A finished delivery's status is its result, read from its history's last event
        # (no worker needed): how many tries it took.
        handle = client.get_workflow_handle_for(ReportDeliveryWorkflow.run, row.workflow_id)
        async with gate:
            try:
                row.live = await handle.result(follow_runs=False, rpc_timeout=LIVE_QUERY_TIMEOUT)
            except Exception as err:  # an unreadable result leaves what visibility says
                row.note = f"no final status: {type(err).__name__}"

    await asyncio.gather(*(ask(r) for r in open_rows), *(ended(r) for r in closed_rows))
    return rows


async def retry_deliveries(
    client: Client,
    *,
    delivery_id: str | None = None,
    status: str = "waiting",
    sink: str | None = None,
    rate: float,
) -> int:
    """Signal ``retry_now`` to one delivery, or to every open one (oldest first), paced.

    Args:
        client: Temporal client.
        delivery_id: One delivery workflow id; None means every open delivery in ``status``.
        status: With no id: ``waiting`` or ``dead``.
        sink: With no id: only deliveries to this sink name.
        rate: Signals per second.

    Returns:
        How many deliveries were signalled.
    """
    if delivery_id is not None:
        ids = [delivery_id]
    else:
        found = await list_deliveries(client, status, live=False)
        chosen = [r for r in found if r.execution == "running" and sink in (None, r.sink)]
        ids = [r.workflow_id for r in sorted(chosen, key=lambda r: r.started_at)]
    return await paced_retry_now(client, ids, rate)


async def ended_delivery(client: Client, delivery_id: str) -> str | None:
    """Why a delivery cannot take ``retry_now``: ``delivered`` (it completed) or its closed
    status (``failed``, ``terminated``...); None when no such delivery exists or it is open."""
    try:
        described = await client.get_workflow_handle(delivery_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    state = described.status
    if state is None or state == WorkflowExecutionStatus.RUNNING:
        return None
    return "delivered" if state == WorkflowExecutionStatus.COMPLETED else state.name.lower()
