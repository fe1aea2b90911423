"""The run ledger for the CLI (and the API): list runs, reconcile from visibility."""

from __future__ import annotations

from datetime import datetime

from temporalio.client import Client

from activities.reconcile import Reconciler, ReconcileResult
from activity_core.domain import RunRecord
from activity_core.store import Ledger, Store


async def list_runs(
    store: Store, *, name: str | None = None, since: datetime | None = None, limit: int = 50
) -> list[RunRecord]:
    """Runs from the ledger, newest fire first."""
    return await Ledger(store).runs(activity_name=name, since=since, limit=limit)


async def reconcile(client: Client, store: Store, since: datetime) -> ReconcileResult:
    """Back-fill missing or stale ledger rows from visibility; a second pass writes nothing."""
    return await Reconciler(client, Ledger(store)).run(since)
