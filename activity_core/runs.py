"""Starting runs and reading deliveries from the client side (CLI, dev stack)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle

from activity_core import search_attributes as sa
from activity_core.constants import ORCHESTRATOR_TQ
from activity_core.models import ActivityDefinition, DeliveryStatus, RunInput
from workflows.activity_run import ActivityRunWorkflow
from workflows.report_delivery import ReportDeliveryWorkflow


def manual_run_id(definition: ActivityDefinition, now: datetime | None = None) -> str:
    """Workflow id of a manual run: ``activity-run-<name>-manual-<UTC time>-<random>``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"activity-run-{definition.name}-manual-{stamp}-{secrets.token_hex(2)}"


async def start_manual_run(
    client: Client, definition: ActivityDefinition, *, task_queue: str = ORCHESTRATOR_TQ
) -> WorkflowHandle[Any, Any]:
    """Start ActivityRunWorkflow for a definition now (manual runs bypass the misfire guard)."""
    return await client.start_workflow(
        ActivityRunWorkflow.run,
        RunInput(activity_id=str(definition.id), activity_name=definition.name, trigger="manual"),
        id=manual_run_id(definition),
        task_queue=task_queue,
        static_summary=f"manual run of {definition.name}"[:200],
        static_details=(
            f"**{definition.name}** ({definition.handler})\n\n{definition.description}\n\n"
            "Triggered by hand with `actcore trigger`."
        ),
        search_attributes=sa.definition_attributes(str(definition.id), definition.name),
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

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "live"}
        if self.live is not None:
            out["attempts"] = self.live.attempts
            out["last_error"] = self.live.last_error
            out["next_attempt_at"] = (
                self.live.next_attempt_at.isoformat() if self.live.next_attempt_at else None
            )
        return out


async def list_deliveries(
    client: Client, status: str | None = None, *, live: bool = True, limit: int = 1000
) -> list[DeliveryRow]:
    """Delivery workflows, newest first, optionally filtered on ``DeliveryStatus``."""
    query = "WorkflowType = 'ReportDeliveryWorkflow'"
    if status:
        query += f" AND DeliveryStatus = '{status}'"
    rows: list[DeliveryRow] = []
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
            handle = client.get_workflow_handle_for(ReportDeliveryWorkflow.run, ex.id)
            row.live = await handle.query(ReportDeliveryWorkflow.status)
        rows.append(row)
    return rows
