"""Ledger writes from workflow code, shared by runs and deliveries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from activity_core.domain import LedgerWriteResult
    from activity_core.domain.constants import (
        LEDGER_PATCH,
        LEDGER_WRITE_RETRY,
        LEDGER_WRITE_TIMEOUT,
    )


async def write_ledger(
    write: Callable[[Any, Any], Awaitable[LedgerWriteResult]], record: Any, summary: str
) -> bool:
    """Run a ledger write as a local activity; never raises.

    Executions recorded before the ledger existed replay without it (patch
    ``ledger-records``).

    Args:
        write: ``LedgerActivities.record_run`` or ``LedgerActivities.record_delivery``.
        record: The row to write.
        summary: Label of the local activity in the Web UI.

    Returns:
        True when nothing is owed (written, the store is off, or an old execution); False
        when the row is pending for reconciliation.
    """
    if not workflow.patched(LEDGER_PATCH):
        return True
    try:
        result = await workflow.execute_local_activity_method(
            write,
            record,
            start_to_close_timeout=LEDGER_WRITE_TIMEOUT,
            retry_policy=LEDGER_WRITE_RETRY,
            summary=summary,
        )
    except FailureError as exc:
        # A local activity's failure arrives as the activity's own error (an
        # ApplicationError), not wrapped in an ActivityError: catch the family.
        cause = exc.cause if isinstance(exc, ActivityError) else exc
        workflow.logger.warning("ledger write failed: %s", cause or exc)
        return False
    return not result.pending
