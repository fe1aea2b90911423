"""``static_report``: a report built from the definition's params (no external calls)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from activity_core.domain import Report
from activity_core.domain.handler_params import StaticReportParams
from activity_core.domain.tasks import Task

if TYPE_CHECKING:
    from activities.handlers import HandlerContext


async def static_report(ctx: HandlerContext) -> Report:
    """Report with ``params.title`` and ``params.body``; useful for smoke tests and pings."""
    inp = ctx.input
    params = StaticReportParams.model_validate(inp.definition.params)
    title = params.title or inp.definition.name
    body = params.body or inp.definition.description or "(no body)"
    when = inp.scheduled_for.isoformat()
    data: dict[str, object] = {"title": title, "body": body, "scheduled_for": when}
    markdown = f"# {title}\n\n{body}\n\nScheduled for {when}.\n"
    if inp.event is not None:
        ev = inp.event
        data["event"] = {
            "event_id": ev.event_id,
            "type": ev.type,
            "source": ev.source,
            "subject": ev.subject,
            "trace_id": ev.trace_id,
        }
        # Source and subject are whatever the publisher wrote: escaped, so a note viewer
        # shows them as text, never renders them as HTML.
        markdown += (
            f"\nStarted by event `{ev.event_id}` ({ev.type} from {escape(ev.source)}, "
            f"subject {escape(ev.subject)}, occurred {ev.occurred_at.isoformat()}).\n"
        )
    return Report(
        title=title,
        summary=f"{title} for {when}",
        markdown=markdown,
        data=data,
        tasks=[Task.model_validate(t.model_dump()) for t in params.tasks],
    )
