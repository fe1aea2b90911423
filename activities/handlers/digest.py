"""``activity_digest``: what this deployment ran in the last N hours.

Runs are read from the ledger (it outlives Temporal's retention), or from visibility when
the worker has no store or the database is down; open deliveries always from visibility
(their state is live). The report says which source it read.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalio.client import WorkflowExecution

from activity_core.domain import Report, RunRecord
from activity_core.domain import search_attributes as sa
from activity_core.domain.handler_params import ActivityDigestParams
from activity_core.store.errors import STORE_ERRORS

if TYPE_CHECKING:
    from activities.handlers import HandlerContext

log = logging.getLogger(__name__)

MAX_ROWS = 500


def _status(ex: WorkflowExecution) -> str:
    return ex.status.name.lower() if ex.status else "unknown"


def _row(ex: WorkflowExecution) -> dict[str, Any]:
    attrs = ex.typed_search_attributes
    return {
        "workflow_id": ex.id,
        "activity_name": attrs.get(sa.ACTIVITY_NAME) or "?",
        "status": _status(ex),
        "outcome": attrs.get(sa.RUN_OUTCOME),
        "started_at": ex.start_time.isoformat() if ex.start_time else None,
        "closed_at": ex.close_time.isoformat() if ex.close_time else None,
    }


def _ledger_row(r: RunRecord) -> dict[str, Any]:
    started = r.fired_at or r.started_at
    return {
        "workflow_id": r.run_id,
        "activity_name": r.activity_name,
        "status": r.state,
        "outcome": r.outcome,
        "started_at": started.isoformat() if started else None,
        "closed_at": r.finished_at.isoformat() if r.finished_at else None,
    }


async def _runs(
    ctx: HandlerContext, since: datetime, since_q: str
) -> tuple[list[dict[str, Any]], str]:
    """The window's runs (but this one) and where they were read from."""
    me = ctx.input.run_id
    if ctx.ledger is not None:
        try:
            rows = await ctx.ledger.runs(since=since, limit=MAX_ROWS + 1)
            return [_ledger_row(r) for r in rows if r.run_id != me], "the ledger"
        except STORE_ERRORS as exc:
            log.warning(
                "ledger unavailable; digest reads visibility", extra={"error": str(exc)[:200]}
            )
    runs = [
        _row(ex)
        async for ex in ctx.client.list_workflows(
            f"WorkflowType = 'ActivityRunWorkflow' AND StartTime > '{since_q}'", limit=MAX_ROWS
        )
        if ex.id != me
    ]
    return runs, "Temporal visibility"


async def activity_digest(ctx: HandlerContext) -> Report:
    """Digest of activity runs and open deliveries in the look-back window.

    Params:
        hours: Look-back window in hours (default 24).
    """
    inp = ctx.input
    hours = ActivityDigestParams.model_validate(inp.definition.params).hours
    since = inp.scheduled_for - timedelta(hours=hours)
    since_q = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    runs, source = await _runs(ctx, since, since_q)
    waiting: list[dict[str, Any]] = []
    async for ex in ctx.client.list_workflows(
        "WorkflowType = 'ReportDeliveryWorkflow' AND ExecutionStatus = 'Running'", limit=MAX_ROWS
    ):
        attrs = ex.typed_search_attributes
        waiting.append(
            {
                "workflow_id": ex.id,
                "activity_name": attrs.get(sa.ACTIVITY_NAME) or "?",
                "sink": attrs.get(sa.DELIVERY_SINK) or "?",
                "delivery_status": attrs.get(sa.DELIVERY_STATUS) or "pending",
            }
        )
    waiting.sort(key=lambda r: r["workflow_id"])
    runs.sort(key=lambda r: (r["started_at"] or "", r["workflow_id"]))

    by_status = Counter(r["status"] for r in runs)
    failed = [r for r in runs if r["status"] in {"failed", "terminated", "timed_out"}]
    dead = [w for w in waiting if w["delivery_status"] == "dead"]
    summary = (
        f"{len(runs)} runs in the last {hours:g} h "
        f"({', '.join(f'{n} {s}' for s, n in sorted(by_status.items())) or 'none'}); "
        f"{len(waiting)} deliveries open, {len(dead)} dead"
    )
    lines = [
        f"# Activity digest: {inp.scheduled_for:%Y-%m-%d %H:%M} UTC",
        "",
        f"Window: since {since_q}. {summary}. Runs read from {source}.",
        "",
        "## Runs",
        "",
    ]
    if runs:
        lines += [
            "| started (UTC) | definition | status | outcome | run id |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['started_at'] or '-'} | {r['activity_name']} | {r['status']} | "
            f"{r['outcome'] or '-'} | `{r['workflow_id']}` |"
            for r in runs
        ]
    else:
        lines.append("No runs in the window.")
    lines += ["", "## Deliveries not yet delivered", ""]
    if waiting:
        lines += ["| definition | sink | state | delivery id |", "|---|---|---|---|"]
        lines += [
            "| {activity_name} | {sink} | {delivery_status} | `{workflow_id}` |".format(**w)
            for w in waiting
        ]
    else:
        lines.append("None: every report was delivered.")
    if failed:
        lines += ["", "## Needs attention", ""]
        lines += [f"- `{r['workflow_id']}` ({r['activity_name']}) {r['status']}" for r in failed]
    return Report(
        title=f"Activity digest {inp.scheduled_for:%Y-%m-%d}",
        summary=summary,
        markdown="\n".join(lines) + "\n",
        data={
            "window_hours": hours,
            "since": since_q,
            "runs": runs,
            "runs_by_status": dict(by_status),
            "runs_source": source,
            "open_deliveries": waiting,
        },
    )
