"""``actcore verify``: did a definition's run for a date happen, and did its report arrive?

The runbook's daily checklist as code. Each check passes, fails with a precise reason,
or is skipped when it does not apply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError

from activities import notes
from activity_core.domain import (
    ActivityDefinition,
    DeliveryState,
    RunOutcome,
    RunResult,
    StateHubProgressSink,
)
from activity_core.domain import search_attributes as sa
from activity_core.domain.budget import budget_error, run_budget
from activity_core.domain.constants import ACTIVITY_RUN_WORKFLOW
from activity_core.domain.report import delivery_workflow_id
from activity_core.domain.schedule_spec import build_schedule, is_scheduled, schedule_id
from activity_core.settings import Settings
from workflows.activity_run import ActivityRunWorkflow
from workflows.report_delivery import ReportDeliveryWorkflow

Status = Literal["pass", "fail", "skip"]
GOOD_OUTCOMES = {RunOutcome.RAN, RunOutcome.RAN_LATE, RunOutcome.RAN_AS_LATEST}


@dataclass
class Check:
    """One line of the verification table."""

    name: str
    status: Status
    detail: str


PLAN = [
    ("schedule", "schedule activity-schedule-<id> exists, is not paused, has the policy"),
    ("run", "a run with ScheduledFor on the date exists and completed"),
    ("outcome", "its RunOutcome is ran, ran_late or ran_as_latest"),
    ("note", "the working-memory note carries the same activity_core_run_id"),
    ("sink:<name>", "each remote sink has the event (or its delivery's state is shown)"),
    ("budget", "resolvers and handler fit under ACTIVITY_TIMEOUT_SECONDS"),
]


def day_bounds(definition: ActivityDefinition, day: date) -> tuple[datetime, datetime]:
    """The date as a UTC interval, in the definition's time zone."""
    zone = ZoneInfo(definition.zone)
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, start + timedelta(days=1)


def _iso(when: datetime) -> str:
    return when.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _schedule(client: Client, d: ActivityDefinition) -> Check:
    if not is_scheduled(d):
        return Check("schedule", "skip", f"{d.trigger_config.trigger_type} trigger: no schedule")
    sid = schedule_id(d)
    try:
        desc = await client.get_schedule_handle(sid).describe()
    except RPCError as err:
        return Check("schedule", "fail", f"{sid} not found ({err.message}); run `actcore sync`")
    want = build_schedule(d).schedule.policy
    got = desc.schedule.policy
    if desc.schedule.state.paused and d.enabled:
        return Check("schedule", "fail", f"{sid} is paused but the definition is enabled")
    if (got.overlap, got.catchup_window) != (want.overlap, want.catchup_window):
        return Check(
            "schedule",
            "fail",
            f"{sid} drifted: overlap {got.overlap.name}, catchup {got.catchup_window}; the "
            f"definition wants {want.overlap.name}, {want.catchup_window}; run `actcore sync`",
        )
    return Check("schedule", "pass", f"{sid}: {got.overlap.name}, catchup {got.catchup_window}")


async def _find_run(client: Client, d: ActivityDefinition, day: date) -> WorkflowExecution | None:
    lo, hi = day_bounds(d, day)
    query = (
        f"WorkflowType = '{ACTIVITY_RUN_WORKFLOW}' AND ActivityId = '{d.id}' "
        f"AND ScheduledFor >= '{_iso(lo)}' AND ScheduledFor < '{_iso(hi)}'"
    )
    runs = [ex async for ex in client.list_workflows(query, limit=50)]
    return max(runs, key=lambda ex: ex.start_time) if runs else None


def _note(wm: Path, result: RunResult) -> Check:
    if not result.report_path:
        return Check("note", "fail", "the run wrote no report note")
    path = Path(result.report_path)
    if not path.exists():
        # The worker may run elsewhere: look in this machine's working memory too.
        candidates = list(wm.rglob(path.name)) if wm.exists() else []
        if not candidates:
            return Check("note", "fail", f"{path} not found on this machine")
        path = candidates[0]
    run_id = notes.read_front_matter(path).get("activity_core_run_id")
    if run_id != result.run_id:
        return Check("note", "fail", f"{path} carries run id {run_id!r}, not {result.run_id!r}")
    return Check("note", "pass", str(path))


async def _sink(
    client: Client, settings: Settings, d: ActivityDefinition, result: RunResult, sink: Any
) -> Check:
    name = f"sink:{sink.name}"
    if isinstance(sink, StateHubProgressSink):
        url = f"{(sink.url or settings.state_hub_url).rstrip('/')}/progress/"
        headers = {}
        token = settings.state_hub_bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                response = await http.get(
                    url, params={"event_type": sink.event_type}, headers=headers
                )
            if response.status_code == 200:
                ids = [e.get("detail", {}).get("activity_core_run_id") for e in response.json()]
                if result.run_id in ids:
                    return Check(name, "pass", f"{sink.event_type} event with the run id at {url}")
        except httpx.HTTPError:
            pass  # fall through to the delivery's own state
    handle = client.get_workflow_handle_for(
        ReportDeliveryWorkflow.run, delivery_workflow_id(result.run_id, sink.name)
    )
    try:
        status = await handle.query(ReportDeliveryWorkflow.status)
    except RPCError:
        described = await handle.describe()
        if described.status == WorkflowExecutionStatus.COMPLETED:
            final = await handle.result()
            if final.state == DeliveryState.DELIVERED:
                return Check(name, "pass", f"delivered at {final.delivered_at}")
            return Check(name, "fail", f"delivery ended {final.state.value}")
        return Check(name, "fail", f"delivery {handle.id} is {described.status}")
    if status.state == DeliveryState.DELIVERED:
        return Check(name, "pass", f"delivered at {status.delivered_at}")
    if status.last_error is None:
        return Check(
            name, "fail", f"delivery {status.state.value}: attempt {status.attempts} in progress"
        )
    nxt = (
        f"; next attempt {status.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC"
        if status.next_attempt_at
        else ""
    )
    return Check(
        name,
        "fail",
        f"delivery {status.state.value}: attempt {status.attempts} failed ({status.last_error})"
        f"{nxt}; the report is safe in its note; see the runbook 'Deliveries are waiting'",
    )


async def verify(
    client: Client, settings: Settings, definition: ActivityDefinition, day: date
) -> list[Check]:
    """Run every check against the live system."""
    checks = [await _schedule(client, definition)]
    ex = await _find_run(client, definition, day)
    if ex is None:
        checks.append(
            Check("run", "fail", f"no run with ScheduledFor on {day} ({definition.zone})")
        )
    else:
        handle = client.get_workflow_handle_for(ActivityRunWorkflow.run, ex.id, run_id=ex.run_id)
        described = await handle.describe()
        if described.status != WorkflowExecutionStatus.COMPLETED:
            checks.append(
                Check(
                    "run",
                    "fail",
                    f"{ex.id} is {described.status.name if described.status else '?'}",
                )
            )
        else:
            result = await handle.result()
            checks.append(Check("run", "pass", f"{ex.id} completed"))
            outcome = ex.typed_search_attributes.get(sa.RUN_OUTCOME) or result.outcome.value
            good = RunOutcome(outcome) in GOOD_OUTCOMES
            checks.append(Check("outcome", "pass" if good else "fail", outcome))
            if result.report_path or good:
                checks.append(_note(settings.working_memory_dir, result))
            for sink in definition.remote_sinks:
                checks.append(await _sink(client, settings, definition, result, sink))
    over = budget_error(definition, settings.activity_timeout_seconds)
    checks.append(
        Check("budget", "fail", over)
        if over
        else Check("budget", "pass", run_budget(definition)[1])
    )
    return checks


def as_json(checks: list[Check]) -> list[dict[str, str]]:
    return [asdict(c) for c in checks]
