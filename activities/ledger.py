"""Ledger writes from inside runs and deliveries: bounded, and never an error.

``record_run`` and ``record_delivery`` run as local activities of the workflows. A
database that is down costs a run at most ``ACTCORE_LEDGER_WRITE_TIMEOUT_SECONDS``: the
write is given up, counted in ``activity_core_ledger_write_failures``, logged without the
URL, and returned as ``written=False``; reconciliation fills the row in later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from temporalio import activity
from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential_jitter

from activity_core.domain import DeliveryRecord, LedgerWriteResult, RunRecord
from activity_core.domain.tasks import TaskBatchRecord
from activity_core.store import Ledger, Store

log = logging.getLogger(__name__)

WRITE_TRIES = 3


class LedgerActivities:
    """Ledger writes; one instance per worker (``store`` None: the store is turned off)."""

    def __init__(self, store: Store | None, timeout_seconds: float = 5.0) -> None:
        """Build once per worker.

        Args:
            store: The worker's store, or None when ``ACTCORE_DB_URL=none``.
            timeout_seconds: Longest one write may take, retries included.
        """
        self._ledger = Ledger(store) if store is not None else None
        self._timeout = timeout_seconds

    @activity.defn(name="record_run")
    async def record_run(self, record: RunRecord) -> LedgerWriteResult:
        """Upsert the run's row (the newest state wins)."""
        ledger = self._ledger
        if ledger is None:
            return LedgerWriteResult(written=False, store_off=True)
        return await self._write("run", record.run_id, lambda: ledger.record_runs([record]))

    @activity.defn(name="record_delivery")
    async def record_delivery(self, record: DeliveryRecord) -> LedgerWriteResult:
        """Upsert the delivery's row (the newest state wins)."""
        ledger = self._ledger
        if ledger is None:
            return LedgerWriteResult(written=False, store_off=True)
        return await self._write(
            "delivery", record.workflow_id, lambda: ledger.record_deliveries([record])
        )

    @activity.defn(name="record_tasks")
    async def record_tasks(self, batch: TaskBatchRecord) -> LedgerWriteResult:
        """Upsert the tasks a run emitted (the newest state of each wins)."""
        ledger = self._ledger
        if ledger is None:
            return LedgerWriteResult(written=False, store_off=True)
        if not batch.records:
            return LedgerWriteResult(written=True)
        first = batch.records[0]
        return await self._write(
            "tasks", f"{first.run_id}:{first.sink}", lambda: ledger.record_tasks(batch.records)
        )

    async def _write(
        self, kind: str, key: str, write: Callable[[], Awaitable[int]]
    ) -> LedgerWriteResult:
        async def tries() -> None:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(WRITE_TRIES),
                wait=wait_exponential_jitter(multiplier=0.1, max=1.0),
                reraise=True,
            ):
                with attempt:
                    await write()

        try:
            await asyncio.wait_for(tries(), self._timeout)
        except Exception as exc:
            # The error text of a driver can name the host, never the password; keep the
            # class and the first line only.
            why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            activity.metric_meter().create_counter(
                "activity_core_ledger_write_failures", "Ledger writes given up (reconcile fills in)"
            ).add(1, {"kind": kind})
            log.warning("ledger write pending", extra={"kind": kind, "key": key, "error": why})
            return LedgerWriteResult(written=False, error=why)
        return LedgerWriteResult(written=True)
