"""Ledger writes from inside runs and deliveries: bounded, and never an error.

``record_run`` and ``record_delivery`` run as local activities of the workflows. A
database that is down costs a run at most ``ACTCORE_LEDGER_WRITE_TIMEOUT_SECONDS``: the
write is given up, counted in ``activity_core_ledger_write_failures``, logged without the
URL, and returned as ``written=False``; reconciliation fills the row in later.

Writes that arrive together share a transaction (:class:`SharedCommits`): at the top of the
hour a thousand runs each write a row as they start; one commit for everything that
arrived while the previous commit was in flight costs the database (and SQLite's single
writer) far less than a commit each, and a lone write still goes at once.
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
BATCH_MAX = 200
"""Most rows in one shared transaction."""

Row = RunRecord | DeliveryRecord


async def _with_retries(write: Callable[[], Awaitable[int]]) -> None:
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(WRITE_TRIES),
        wait=wait_exponential_jitter(multiplier=0.1, max=1.0),
        reraise=True,
    ):
        with attempt:
            await write()


class SharedCommits:
    """Run and delivery rows written by concurrent callers, one transaction per batch.

    A write that arrives while a batch is being committed waits for it and goes in the
    next one, with every other write that arrived meanwhile (at most :data:`BATCH_MAX`).
    When a shared batch fails, its rows are tried one by one, so one row the database
    refuses does not take the others with it.
    """

    def __init__(self, ledger: Ledger) -> None:
        """Share commits to ``ledger``."""
        self._ledger = ledger
        self._queue: list[tuple[Row, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0
        """Transactions committed (for tests and benchmarks)."""

    async def write(self, row: Row) -> None:
        """Write ``row`` (retried); raises the database's error when it cannot be."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((row, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:BATCH_MAX], self._queue[BATCH_MAX:]
            waiting = [(row, done) for row, done in batch if not done.done()]
            if not waiting:
                continue  # every caller gave up waiting (their rows are reconciled)
            try:
                await self._commit([row for row, _ in waiting])
            except Exception as exc:
                if len(waiting) == 1:
                    _settle(waiting[0][1], exc)
                    continue
                for row, done in waiting:
                    try:
                        await self._commit([row])
                    except Exception as one:
                        _settle(done, one)
                    else:
                        _settle(done, None)
            else:
                for _, done in waiting:
                    _settle(done, None)

    async def _commit(self, rows: list[Row]) -> None:
        runs = [r for r in rows if isinstance(r, RunRecord)]
        deliveries = [r for r in rows if isinstance(r, DeliveryRecord)]
        await _with_retries(lambda: self._ledger.record_batch(runs, deliveries))
        self.batches += 1


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return  # its caller stopped waiting
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


class LedgerActivities:
    """Ledger writes; one instance per worker (``store`` None: the store is turned off)."""

    def __init__(self, store: Store | None, timeout_seconds: float = 5.0) -> None:
        """Build once per worker.

        Args:
            store: The worker's store, or None when ``ACTCORE_DB_URL=none``.
            timeout_seconds: Longest one write may take, retries included.
        """
        self._ledger = Ledger(store) if store is not None else None
        self._shared = SharedCommits(self._ledger) if self._ledger is not None else None
        self._timeout = timeout_seconds

    @activity.defn(name="record_run")
    async def record_run(self, record: RunRecord) -> LedgerWriteResult:
        """Upsert the run's row (the newest state wins)."""
        shared = self._shared
        if shared is None:
            return LedgerWriteResult(written=False, store_off=True)
        return await self._write("run", record.run_id, lambda: shared.write(record))

    @activity.defn(name="record_delivery")
    async def record_delivery(self, record: DeliveryRecord) -> LedgerWriteResult:
        """Upsert the delivery's row (the newest state wins)."""
        shared = self._shared
        if shared is None:
            return LedgerWriteResult(written=False, store_off=True)
        return await self._write("delivery", record.workflow_id, lambda: shared.write(record))

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
            "tasks",
            f"{first.run_id}:{first.sink}",
            lambda: _with_retries(lambda: ledger.record_tasks(batch.records)),
        )

    async def _write(
        self, kind: str, key: str, write: Callable[[], Awaitable[None]]
    ) -> LedgerWriteResult:
        try:
            await asyncio.wait_for(write(), self._timeout)
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
