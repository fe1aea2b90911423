"""``actcore verify``: did a definition's run for a date happen, and did its report arrive?

The runbook's daily checklist as code. Each check passes, fails with a precise reason,
or is skipped when it does not apply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
from temporalio.client import (
    Client,
    ScheduleOverlapPolicy,
    WorkflowExecution,
    WorkflowExecutionStatus,
)
from temporalio.service import RPCError, RPCStatusCode

from activities import notes
from activities.delivery import default_http_client, same_origin
from activity_core.domain import (
    ActivityDefinition,
    CronTrigger,
    DeliveryState,
    IntervalTrigger,
    MisfirePolicy,
    RunOutcome,
    RunResult,
    StateHubProgressSink,
    misfire,
)
from activity_core.domain import search_attributes as sa
from activity_core.domain.budget import budget_error, run_budget
from activity_core.domain.constants import ACTIVITY_RUN_WORKFLOW
from activity_core.domain.ledger import RunRecord
from activity_core.domain.report import delivery_workflow_id
from activity_core.domain.run import SUCCESS_OUTCOMES
from activity_core.domain.schedule_spec import build_schedule, is_scheduled, schedule_id
from activity_core.settings import Settings
from activity_core.store import Ledger
from activity_core.store.errors import STORE_ERRORS
from workflows.activity_run import ActivityRunWorkflow
from workflows.report_delivery import ReportDeliveryWorkflow

Status = Literal["pass", "fail", "skip", "not_due"]
Verdict = Literal["pass", "fail", "not_due"]
EXIT_CODES: dict[Verdict, int] = {"pass": 0, "fail": 1, "not_due": 3}
"""``actcore verify`` exits 0 when the run happened and arrived, 1 when a check failed,
3 when the day's fire has not come yet (2 stays bad input)."""
GOOD_OUTCOMES = SUCCESS_OUTCOMES
OVERLAP_SLACK = timedelta(seconds=1)
"""A run that started less than this before a fire may be that fire's own."""


@dataclass
class Check:
    """One line of the verification table."""

    name: str
    status: Status
    detail: str


PLAN = [
    ("schedule", "schedule activity-schedule-<id> exists, is not paused, has the policy"),
    (
        "run",
        "the run that answers the day's latest due fire (scheduled definitions; any run"
        " of the day otherwise) exists and completed; before the first fire: not due yet",
    ),
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


async def _find_run(
    client: Client, d: ActivityDefinition, lo: datetime, hi: datetime, scheduled_only: bool
) -> WorkflowExecution | None:
    """The latest run with ScheduledFor in [lo, hi); only runs the schedule started when
    ``scheduled_only`` (a manual run does not answer a fire)."""
    query = (
        f"WorkflowType = '{ACTIVITY_RUN_WORKFLOW}' AND ActivityId = '{d.id}' "
        f"AND ScheduledFor >= '{sa.visibility_time(lo)}' "
        f"AND ScheduledFor < '{sa.visibility_time(hi)}'"
    )
    runs = []
    async for ex in client.list_workflows(query, limit=50):
        by_schedule: str | None = ex.typed_search_attributes.get(sa.SCHEDULED_BY_ID)
        if by_schedule or not scheduled_only:
            runs.append(ex)
    return max(runs, key=lambda ex: ex.start_time) if runs else None


async def _journaled_since(ledger: Ledger | None, d: ActivityDefinition) -> datetime | None:
    """When the schedule was first written, by the sync journal (None: no journal, or it
    cannot be read): the server owed no fire before that."""
    if ledger is None or not is_scheduled(d):
        return None
    try:
        entries = await ledger.schedule_changes(schedule_id(d))
    except STORE_ERRORS:
        return None
    first = entries[0]["at"] if entries else None
    return first if isinstance(first, datetime) else None


def _local(at: datetime, zone: str) -> str:
    return f"{at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone}"


@dataclass
class Wanted:
    """Which run a day's verification looks for."""

    lo: datetime
    hi: datetime
    scheduled_only: bool
    label: str
    """How the run check names it: ``the 07:00 Europe/Berlin fire`` or ``2026-11-24``."""
    due_until: datetime | None = None
    """A scheduled fire's run may not be visible before this: until then, not due yet."""


def wanted_run(
    d: ActivityDefinition, day: date, now: datetime, since: datetime | None = None
) -> Wanted | Check:
    """The run that answers ``day``: for a cron or interval definition the latest fire of
    the day that is due by ``now`` (and not before the schedule existed, ``since``);
    otherwise any run of the day. A :class:`Check` when there is nothing to look for yet
    (``not_due``) or at all (``skip``)."""
    lo, hi = day_bounds(d, day)
    trig = d.trigger_config
    if not is_scheduled(d) or not isinstance(trig, CronTrigger | IntervalTrigger):
        return Wanted(lo, hi, False, f"{day} ({d.zone})")
    fires = [f for f in misfire.fires_between(trig, lo - timedelta(seconds=1), hi) if f < hi]
    if not fires:
        return Check("run", "skip", f"no fire on {day} ({d.zone}): nothing was due")
    if since is not None and all(f < since for f in fires):
        return Check(
            "run",
            "skip",
            f"no fire owed on {day}: the schedule was created at {_local(since, d.zone)}, "
            "after the day's fires",
        )
    if since is not None:
        fires = [f for f in fires if f >= since]
    due = [f for f in fires if f <= now]
    if not due:
        return Check(
            "run", "not_due", f"not due yet: the first fire is at {_local(fires[0], d.zone)}"
        )
    fire = due[-1]
    grace = timedelta(seconds=misfire.on_time_tolerance_seconds(trig, d.watch))
    return Wanted(
        fire, fire + timedelta(seconds=1), True, f"the {_local(fire, d.zone)} fire", fire + grace
    )


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
    client: Client,
    settings: Settings,
    d: ActivityDefinition,
    result: RunResult,
    sink: Any,
    ledger: Ledger | None = None,
) -> Check:
    name = f"sink:{sink.name}"
    if isinstance(sink, StateHubProgressSink):
        url = f"{(sink.url or settings.state_hub_url).rstrip('/')}/progress/"
        headers = {}
        token = settings.state_hub_bearer()
        if token and same_origin(url, settings.state_hub_url):
            headers["Authorization"] = f"Bearer {token}"
        try:
            async with default_http_client(settings) as http:
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
        try:
            described = await handle.describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND or ledger is None:
                raise
            # Past Temporal's retention: the ledger remembers how the delivery ended.
            rows = [r for r in await ledger.deliveries(result.run_id) if r.sink == sink.name]
            if rows and rows[0].state == DeliveryState.DELIVERED.value:
                return Check(name, "pass", f"delivered at {rows[0].delivered_at} (ledger)")
            state = rows[0].state if rows else "unknown"
            return Check(name, "fail", f"delivery {state} (ledger; gone from Temporal)")
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


def _ledger_result(row: RunRecord) -> RunResult:
    """The parts of a run's result that the checks read, from its ledger row."""
    return RunResult(
        run_id=row.run_id,
        activity_id=row.activity_id,
        activity_name=row.activity_name,
        outcome=RunOutcome(row.outcome or RunOutcome.COULD_NOT_RUN.value),
        scheduled_for=row.scheduled_for or row.updated_at,
        report_path=row.note_path,
        note_status=None,
        trigger="manual"
        if row.trigger == "manual"
        else "event"
        if row.trigger == "event"
        else "schedule",
    )


async def _run_from_ledger(
    ledger: Ledger, d: ActivityDefinition, want: Wanted
) -> tuple[Check, RunResult | None] | None:
    rows = await ledger.runs(activity_id=str(d.id), since=want.lo, until=want.hi, limit=50)
    if want.scheduled_only:
        rows = [r for r in rows if r.trigger in ("schedule", "backfill")]
    if not rows:
        return None
    row = max(rows, key=lambda r: r.fired_at or r.updated_at)
    if row.state != "completed" or row.outcome is None:
        return Check("run", "fail", f"{row.run_id} is {row.state} (ledger)"), None
    return Check("run", "pass", f"{row.run_id} completed (ledger)"), _ledger_result(row)


async def _overlap_skip(client: Client, d: ActivityDefinition, want: Wanted) -> Check | None:
    """Why a scheduled fire without a run has none, when the server skipped it as an
    overlap: a run the schedule started before the fire was still open at it (SKIP
    overlap: ``skip`` and ``catchup_latest``). None when no run stood in its way."""
    trig = d.trigger_config
    if not isinstance(trig, CronTrigger | IntervalTrigger):
        return None
    if build_schedule(d).schedule.policy.overlap != ScheduleOverlapPolicy.SKIP:
        return None
    fire = want.lo
    query = (
        f"WorkflowType = '{ACTIVITY_RUN_WORKFLOW}' AND ActivityId = '{d.id}' "
        f"AND StartTime < '{sa.visibility_time(fire - OVERLAP_SLACK)}' "
        f"AND (ExecutionStatus = 'Running' OR CloseTime > '{sa.visibility_time(fire)}')"
    )
    blockers = [
        ex
        async for ex in client.list_workflows(query, limit=20)
        if ex.typed_search_attributes.get(sa.SCHEDULED_BY_ID)
    ]
    if not blockers:
        return None
    blocker = min(blockers, key=lambda ex: ex.start_time)
    open_now = blocker.status == WorkflowExecutionStatus.RUNNING
    behind = f"{want.label} was skipped as an overlap behind run {blocker.id}"
    behind += " (still open)" if open_now else ", open at the fire time"
    if trig.misfire_policy != MisfirePolicy.CATCHUP_LATEST:
        return Check("run", "fail", f"{behind}: it will not run (misfire policy skip)")
    if open_now and blocker.typed_search_attributes.get(sa.SCHEDULED_FOR) is None:
        return Check(
            "run",
            "not_due",
            f"{behind}, which has not started yet: under catchup_latest it runs once for "
            "the latest due fire and stands for this one",
        )
    return Check(
        "run",
        "fail",
        f"{behind}, which cannot stand for it: nothing runs for it until the next regular "
        "fire (catchup_latest)",
    )


async def _run_from_visibility(
    client: Client, d: ActivityDefinition, want: Wanted, now: datetime
) -> tuple[Check, RunResult | None]:
    ex = await _find_run(client, d, want.lo, want.hi, want.scheduled_only)
    if ex is None and want.scheduled_only:
        skipped = await _overlap_skip(client, d, want)
        if skipped is not None:
            return skipped, None
    if ex is None:
        if want.due_until is not None and now < want.due_until:
            return Check("run", "not_due", f"{want.label} is due; its run has not shown yet"), None
        what = "scheduled run for" if want.scheduled_only else "run with ScheduledFor on"
        return Check("run", "fail", f"no {what} {want.label}"), None
    handle = client.get_workflow_handle_for(ActivityRunWorkflow.run, ex.id, run_id=ex.run_id)
    described = await handle.describe()
    if described.status != WorkflowExecutionStatus.COMPLETED:
        state = described.status.name if described.status else "?"
        return Check("run", "fail", f"{ex.id} is {state} (visibility)"), None
    result = await handle.result()
    outcome = ex.typed_search_attributes.get(sa.RUN_OUTCOME)
    if outcome:
        result = result.model_copy(update={"outcome": RunOutcome(outcome)})
    return Check("run", "pass", f"{ex.id} completed (visibility)"), result


async def verify(
    client: Client,
    settings: Settings,
    definition: ActivityDefinition,
    day: date,
    ledger: Ledger | None = None,
    now: datetime | None = None,
) -> list[Check]:
    """Run every check against the live system; the run is looked up in the ledger first
    (it outlives Temporal's retention), then in visibility."""
    now = now or datetime.now(UTC)
    checks = [await _schedule(client, definition)]
    want = wanted_run(definition, day, now, await _journaled_since(ledger, definition))
    found = None
    if isinstance(want, Check):
        run_check, result = want, None
    else:
        if ledger is not None:
            try:
                found = await _run_from_ledger(ledger, definition, want)
            except STORE_ERRORS as exc:
                checks.append(Check("ledger", "skip", f"unavailable ({type(exc).__name__})"))
        run_check, result = found or await _run_from_visibility(client, definition, want, now)
    checks.append(run_check)
    if result is not None:
        good = result.outcome in GOOD_OUTCOMES
        checks.append(Check("outcome", "pass" if good else "fail", result.outcome.value))
        if result.report_path or good:
            checks.append(_note(settings.working_memory_dir, result))
        for sink in definition.remote_sinks:
            checks.append(await _sink(client, settings, definition, result, sink, ledger))
    over = budget_error(definition, settings.activity_timeout_seconds)
    checks.append(
        Check("budget", "fail", over)
        if over
        else Check("budget", "pass", run_budget(definition)[1])
    )
    return checks


def verdict(checks: list[Check]) -> Verdict:
    """``fail`` if any check failed, else ``not_due`` if the day's fire has not come."""
    if any(c.status == "fail" for c in checks):
        return "fail"
    return "not_due" if any(c.status == "not_due" for c in checks) else "pass"


def as_json(checks: list[Check]) -> list[dict[str, str]]:
    return [asdict(c) for c in checks]
