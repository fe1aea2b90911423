"""What the watchdog and ``status`` read about sinks: every running delivery that has not
delivered, whatever started its run (visibility only; one query)."""

from __future__ import annotations

from temporalio.client import Client

from activity_core.domain import search_attributes as sa
from activity_core.domain.constants import REPORT_DELIVERY_WORKFLOW
from activity_core.domain.sink_alerts import OpenDelivery

LIMIT = 20000
"""Most open deliveries read in one pass (a backlog beyond this is counted partly)."""


async def open_deliveries(client: Client) -> list[OpenDelivery]:
    """Running deliveries in ``pending``, ``waiting`` or ``dead``.

    Only running executions: a delivery that continued as new leaves closed runs behind
    whose ``DeliveryStatus`` is the state they closed in, not the delivery's.
    """
    query = (
        f"WorkflowType = '{REPORT_DELIVERY_WORKFLOW}' AND ExecutionStatus = 'Running' AND "
        "DeliveryStatus IN ('pending', 'waiting', 'dead')"
    )
    out: list[OpenDelivery] = []
    async for ex in client.list_workflows(query, limit=LIMIT):
        attrs = ex.typed_search_attributes
        out.append(
            OpenDelivery(
                workflow_id=ex.id,
                activity_id=attrs.get(sa.ACTIVITY_ID) or "?",
                activity_name=attrs.get(sa.ACTIVITY_NAME) or "?",
                sink=attrs.get(sa.DELIVERY_SINK) or "?",
                state=attrs.get(sa.DELIVERY_STATUS) or "?",
                started_at=ex.start_time,
            )
        )
    return out
