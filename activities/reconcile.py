"""Reconciliation: the ledger caught up from Temporal visibility.

Runs and deliveries whose row is missing, or whose stored state differs from what
visibility says, are (re)written; everything else is left alone, so a second pass over the
same window writes nothing. Run by ``actcore ledger reconcile`` and by every watchdog pass
(which also prunes rows past ``ACTCORE_LEDGER_RETENTION_DAYS``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)

from activity_core.domain import DeliveryRecord, RunRecord, RunResult
from activity_core.domain import search_attributes as sa
from activity_core.domain.constants import (
    ACTIVITY_RUN_WORKFLOW,
    DELIVERY_ID_PREFIX,
    REPORT_DELIVERY_WORKFLOW,
)
from activity_core.domain.ledger import RunState, finished_record
from activity_core.store import Ledger

log = logging.getLogger(__name__)

BATCH = 500
"""Executions compared with the ledger per query."""
_STATE: dict[WorkflowExecutionStatus, RunState] = {
    WorkflowExecutionStatus.RUNNING: "running",
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.CANCELED: "canceled",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
}


@dataclass
class ReconcileResult:
    """What one reconciliation saw and wrote."""

    runs_seen: int = 0
    runs_written: int = 0
    deliveries_seen: int = 0
    deliveries_written: int = 0


def _trigger(ex: WorkflowExecution) -> str:
    if ex.typed_search_attributes.get(sa.SCHEDULED_BY_ID):
        return "schedule"
    return "manual" if "-manual-" in ex.id else "event"


class Reconciler:
    """Compares visibility with the ledger in batches and writes the difference."""

    def __init__(self, client: Client, ledger: Ledger) -> None:
        """Read ``client``'s visibility; write ``ledger``."""
        self._client = client
        self._ledger = ledger

    async def run(self, since: datetime) -> ReconcileResult:
        """Reconcile every run and delivery started since ``since`` (and every open one)."""
        result = ReconcileResult()
        seen_at = datetime.now(UTC)
        await self._runs(since, result)
        await self._deliveries(since, seen_at, result)
        return result

    async def _batches(self, workflow_type: str, since: datetime) -> list[list[WorkflowExecution]]:
        query = (
            f"WorkflowType = '{workflow_type}' AND "
            f"(StartTime >= '{sa.visibility_time(since)}' OR ExecutionStatus = 'Running')"
        )
        batches: list[list[WorkflowExecution]] = [[]]
        async for ex in self._client.list_workflows(query, page_size=BATCH):
            if len(batches[-1]) >= BATCH:
                batches.append([])
            batches[-1].append(ex)
        return batches

    async def _runs(self, since: datetime, result: ReconcileResult) -> None:
        for batch in await self._batches(ACTIVITY_RUN_WORKFLOW, since):
            result.runs_seen += len(batch)
            stored = await self._ledger.states(ex.id for ex in batch)
            records: list[RunRecord] = []
            for ex in batch:
                state = _STATE.get(ex.status) if ex.status is not None else None
                if state is None or stored.get(ex.id) == state:
                    continue
                records.append(await self._run_record(ex, state))
            if records:
                result.runs_written += await self._ledger.record_runs(records, "reconcile")

    async def _run_record(self, ex: WorkflowExecution, state: RunState) -> RunRecord:
        attrs = ex.typed_search_attributes
        closed = ex.close_time
        if state == "completed":
            try:
                raw = await self._client.get_workflow_handle(ex.id, run_id=ex.run_id).result()
                run = RunResult.model_validate(raw)
                return finished_record(
                    run,
                    fired_at=ex.start_time,
                    started_at=ex.start_time,
                    finished_at=closed or ex.start_time,
                ).model_copy(update={"updated_at": closed or ex.start_time})
            except Exception as exc:  # an unreadable result still gets its row
                log.warning("run result unreadable", extra={"run": ex.id, "error": str(exc)[:200]})
        error = None
        if state == "failed":
            try:
                await self._client.get_workflow_handle(ex.id, run_id=ex.run_id).result()
            except WorkflowFailureError as exc:
                error = str(exc.cause or exc)[:2000]
            except Exception as exc:
                error = type(exc).__name__
        return RunRecord(
            run_id=ex.id,
            activity_id=attrs.get(sa.ACTIVITY_ID) or "?",
            activity_name=attrs.get(sa.ACTIVITY_NAME) or "?",
            trigger=_trigger(ex),
            state=state,
            outcome=attrs.get(sa.RUN_OUTCOME),
            nominal_fire=attrs.get(sa.SCHEDULED_START_TIME),
            scheduled_for=attrs.get(sa.SCHEDULED_FOR) or attrs.get(sa.SCHEDULED_START_TIME),
            fired_at=ex.start_time,
            finished_at=closed,
            error=error,
            updated_at=closed or ex.start_time,
        )

    async def _deliveries(
        self, since: datetime, seen_at: datetime, result: ReconcileResult
    ) -> None:
        for batch in await self._batches(REPORT_DELIVERY_WORKFLOW, since):
            # A delivery that continued as new is one delivery: its latest run speaks.
            latest = [ex for ex in batch if ex.status != WorkflowExecutionStatus.CONTINUED_AS_NEW]
            result.deliveries_seen += len(latest)
            stored = await self._ledger.delivery_states(ex.id for ex in latest)
            records: list[DeliveryRecord] = []
            for ex in latest:
                attrs = ex.typed_search_attributes
                state = attrs.get(sa.DELIVERY_STATUS)
                sink = attrs.get(sa.DELIVERY_SINK)
                if not state or not sink or stored.get(ex.id) == state:
                    continue
                run_id = ex.id.removeprefix(DELIVERY_ID_PREFIX).removesuffix(f"-{sink}")
                records.append(
                    DeliveryRecord(
                        workflow_id=ex.id,
                        run_id=run_id,
                        activity_id=attrs.get(sa.ACTIVITY_ID) or "?",
                        activity_name=attrs.get(sa.ACTIVITY_NAME) or "?",
                        sink=sink,
                        state=state,
                        # Open: the state as of the listing (a newer write of the
                        # delivery's own wins); closed: its close time.
                        updated_at=ex.close_time or seen_at,
                    )
                )
            if records:
                result.deliveries_written += await self._ledger.record_deliveries(records)
