"""What a run hands on: the event a remote sink receives, the report of a run that could
not run, and the deterministic ids of delivery children and sink monitors. Pure."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from urllib.parse import urlsplit

from activity_core.domain.constants import DELIVERY_ID_PREFIX
from activity_core.domain.definition import ActivityDefinition
from activity_core.domain.delivery import ProgressEvent
from activity_core.domain.run import PersistNoteResult, Report
from activity_core.domain.sinks import DeliverySink, StateHubProgressSink, WebhookSink

COULD_NOT_RUN = "could not run; operator review required"
WEBHOOK_EVENT_TYPE = "activity_report"


def delivery_workflow_id(run_id: str, sink_name: str) -> str:
    """Deterministic id of the delivery child for a run and a sink."""
    return f"{DELIVERY_ID_PREFIX}{run_id}-{sink_name}"


def _target(sink: DeliverySink) -> str:
    return hashlib.sha256((sink.url or "default").encode()).hexdigest()[:8]


def monitor_id(sink: DeliverySink) -> str:
    """Deterministic id of a sink's recovery monitor (type, name and target)."""
    return f"sink-monitor-{sink.type}-{sink.name}-{_target(sink)}"


def sink_origin(sink: DeliverySink) -> str:
    """Where a sink's requests go: ``scheme://host:port`` of its URL, or
    ``default-<type>`` for a sink on the worker's configured URL."""
    if sink.url is None:
        return f"default-{sink.type}"
    parts = urlsplit(sink.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def sink_task_queue(sink: DeliverySink, base_queue: str) -> str:
    """The task queue of the delivery attempts to a sink's origin, under the run's activity
    queue: every worker polls it with the origin's pace as the server-side rate limit, so
    a recovering sink sees one pace however many workers there are."""
    origin = sink_origin(sink)
    host = urlsplit(origin).hostname or origin
    label = re.sub(r"[^A-Za-z0-9.-]+", "-", host)[:60]
    digest = hashlib.sha256(origin.encode()).hexdigest()[:8]
    return f"{base_queue}.sink.{label}-{digest}"


def build_event(
    sink: StateHubProgressSink | WebhookSink,
    run_id: str,
    definition: ActivityDefinition,
    scheduled_for: datetime,
    report: Report,
    note: PersistNoteResult,
) -> ProgressEvent:
    """The body a remote sink receives; it always carries ``activity_core_run_id``."""
    event_type = sink.event_type if isinstance(sink, StateHubProgressSink) else WEBHOOK_EVENT_TYPE
    return ProgressEvent(
        event_type=event_type,
        summary=f"{definition.name}: {report.summary}",
        detail={
            "activity_core_run_id": run_id,
            "activity_id": str(definition.id),
            "activity_name": definition.name,
            "scheduled_for": scheduled_for.isoformat(),
            "title": report.title,
            "note_path": note.path,
            "report_markdown": report.markdown,
            "data": report.data,
        },
    )


def could_not_run_report(
    definition: ActivityDefinition, run_id: str, scheduled_for: datetime, missing: list[str]
) -> Report:
    """The report of a run whose required context could not be resolved."""
    body = "\n".join(f"- {m}" for m in missing)
    return Report(
        title=f"{definition.name}: {COULD_NOT_RUN}",
        summary=f"{COULD_NOT_RUN}: {missing[0]}",
        markdown=(
            f"# {definition.name}: {COULD_NOT_RUN}\n\n"
            f"The run for {scheduled_for.isoformat()} could not resolve its required "
            f"context, so `{definition.handler}` did not run.\n\n{body}\n\n"
            "Check State Hub (docs/runbook.md, 'State Hub resolvers failing'), then "
            f"re-run with `actcore trigger {definition.name}`.\n"
        ),
        data={"could_not_run": True, "missing": missing, "activity_core_run_id": run_id},
    )


def skip_alert_body(
    definition: ActivityDefinition, run_id: str, fire: str, lateness_s: float, policy: str
) -> str:
    """Markdown of the alert note a run writes when its policy skips a late fire."""
    return (
        f"The run for the fire at **{fire}** started {lateness_s:.0f} s "
        f"late, beyond the catchup window of misfire policy `{policy}`, so it did "
        "not run (by policy). This usually means the worker or the server was "
        "down at fire time. The next fire runs as usual.\n\n"
        f"- run: `{run_id}`\n"
        f"- to run it anyway: `actcore trigger {definition.name}`\n"
    )


def report_digest(report: Report) -> str:
    """sha256 of a report's markdown and data: the same report always gives the same digest."""
    canonical = json.dumps(
        {"markdown": report.markdown, "data": report.data}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
