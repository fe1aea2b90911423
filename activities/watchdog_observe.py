"""What the watchdog asks the server each pass, and :func:`judge`, which folds it into
verdicts and alerts (shared by the watchdog activity and ``actcore status``).

Per enabled scheduled definition: the expected fires in its look-back
(``ListScheduleMatchingTimes``, so DST and jitter match the schedule exactly), the runs
and deliveries that exist (visibility on ``ActivityId``), a describe of each open run
(is a worker on it?) and of the schedule (paused, policies, buffered fires).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState, PendingWorkflowTaskState
from temporalio.client import Client, WorkflowExecution
from temporalio.service import RPCError, RPCStatusCode

from activities.schedule import matching_times
from activity_core.domain import (
    ActivityDefinition,
    CronTrigger,
    DefinitionSeen,
    DeliverySeen,
    IntervalTrigger,
    RunOutcome,
    RunSeen,
    ScheduleSeen,
    build_schedule,
    is_scheduled,
    misfire,
    schedule_id,
)
from activity_core.domain import search_attributes as sa
from activity_core.domain.constants import (
    ACTIVITY_RUN_WORKFLOW,
    REPORT_DELIVERY_WORKFLOW,
)
from activity_core.domain.ledger import ScheduleChange
from activity_core.domain.schedule_journal import expected_fires, segments
from activity_core.domain.watchdog import SETTLE_S
from activity_core.store import Ledger
from activity_core.store.errors import STORE_ERRORS

log = logging.getLogger(__name__)

MAX_LOOKBACK = timedelta(days=8)
"""A watchdog down longer than this loses sight of the oldest fires."""
CONCURRENCY = 8
_RESULT_READ = frozenset(
    o.value for o in (RunOutcome.RAN_LATE, RunOutcome.RAN_AS_LATEST, RunOutcome.SKIPPED_TOO_LATE)
)
"""Outcomes whose result says more than the search attributes (lateness, covered fires)."""


def watched(definitions: Sequence[ActivityDefinition], names: Sequence[str] = ()) -> list[Any]:
    """The definitions a pass looks at: scheduled ones, optionally only ``names``."""
    return [d for d in definitions if is_scheduled(d) and (not names or d.name in names)]


def window_start(
    definition: ActivityDefinition,
    now: datetime,
    lookback_s: float,
    last_pass_at: datetime | None,
) -> datetime:
    """Start of a definition's look-back.

    At least ``lookback_s``; long enough to see two fires, the longest run and a slow
    delivery; and reaching back to the previous pass so a watchdog that was down judges
    every fire it missed (up to :data:`MAX_LOOKBACK`).
    """
    trig = definition.trigger_config
    assert isinstance(trig, CronTrigger | IntervalTrigger)
    tolerance = misfire.on_time_tolerance_seconds(trig, definition.watch)
    span = max(
        lookback_s,
        2 * misfire.largest_gap_seconds(trig),
        definition.watch.max_runtime_seconds,
        definition.watch.delivery_alert_after_seconds,
    )
    start = now - timedelta(seconds=span + tolerance + SETTLE_S)
    if last_pass_at is not None:
        start = min(start, last_pass_at - timedelta(seconds=span + tolerance + SETTLE_S))
    return max(start, now - MAX_LOOKBACK)


def _trigger_fires(trigger: dict[str, Any], start: datetime, end: datetime) -> list[datetime]:
    """Fires of a trigger the journal kept (an older spec), computed here."""
    kind = trigger.get("trigger_type")
    model = CronTrigger if kind == "cron" else IntervalTrigger if kind == "interval" else None
    if model is None:
        return []
    return misfire.fires_between(model.model_validate(trigger), start, end)


def seen_of(d: ActivityDefinition, start: datetime, **observed: Any) -> DefinitionSeen:
    """A definition's thresholds as the watchdog holds it to them, with what a pass
    ``observed`` (fires, runs, deliveries, schedule, ...)."""
    trig = d.trigger_config
    assert isinstance(trig, CronTrigger | IntervalTrigger)
    desired = build_schedule(d)
    return DefinitionSeen(
        activity_id=str(d.id),
        name=d.name,
        policy=trig.misfire_policy.value,
        enabled=d.enabled,
        zone=d.zone,
        overlap=desired.overlap,
        catchup_window_s=desired.catchup_window.total_seconds(),
        tolerance_s=misfire.on_time_tolerance_seconds(trig, d.watch),
        page_late_s=d.watch.page_late_after_seconds,
        max_runtime_s=d.watch.max_runtime_seconds,
        delivery_alert_s=d.watch.delivery_alert_after_seconds,
        window_start=start,
        recover_after=d.watch.recover_after,
        alert_after=d.watch.alert_after,
        pause_after=d.watch.pause_after,
        min_runtime_s=d.watch.min_runtime_seconds,
        **observed,
    )


def blind(d: ActivityDefinition, now: datetime, start: datetime, why: str) -> DefinitionSeen:
    """What a pass knows of a definition it could not see: its fires, computed here."""
    trig = d.trigger_config
    assert isinstance(trig, CronTrigger | IntervalTrigger)
    return seen_of(
        d,
        start,
        expected_fires=misfire.fires_between(trig, start, now) if d.enabled else [],
        schedule=ScheduleSeen(exists=True, fires_from="local"),
        blind=why,
    )


class Observer:
    """Gathers :class:`DefinitionSeen` for definitions, with a bounded number of calls."""

    def __init__(
        self,
        client: Client,
        journals: dict[str, list[ScheduleChange]] | None = None,
        ledger: Ledger | None = None,
        *,
        strict: bool = False,
    ) -> None:
        """Use ``client`` for every call; ``journals`` (schedule id -> the sync journal, from
        the store) judge each fire by the schedule state in force at that time; the
        ``ledger`` answers for runs Temporal's retention has deleted."""
        self._client = client
        self._journals = journals
        self._ledger = ledger
        self._strict = strict
        """Raise when the ledger cannot be read (a backfill must not take a fire whose run
        only the ledger remembers for missing), instead of judging without it."""
        self._gate = asyncio.Semaphore(CONCURRENCY)

    async def observe(
        self,
        definitions: Sequence[ActivityDefinition],
        now: datetime,
        lookback_s: float,
        last_pass_at: datetime | None,
    ) -> list[DefinitionSeen]:
        """Observe every definition (enabled or not: a disabled one is checked for health)."""

        async def one(d: ActivityDefinition) -> DefinitionSeen:
            start = window_start(d, now, lookback_s, last_pass_at)
            async with self._gate:
                try:
                    return await self.observe_one(d, now, start)
                except (RPCError, TimeoutError) as err:
                    # Never "missing" for what could not be seen: the fires are unknown
                    # and judged by the next pass that sees them.
                    why = (
                        f"{err.status.name if err.status else 'error'}: {err.message[:160]}"
                        if isinstance(err, RPCError)
                        else "timed out"
                    )
                    log.warning("definition not seen", extra={"definition": d.name, "why": why})
                    return blind(d, now, start, why)

        return list(await asyncio.gather(*(one(d) for d in definitions)))

    async def observe_one(
        self, d: ActivityDefinition, now: datetime, start: datetime
    ) -> DefinitionSeen:
        """Expected fires, runs, deliveries and schedule of one definition."""
        trig = d.trigger_config
        assert isinstance(trig, CronTrigger | IntervalTrigger)
        desired = build_schedule(d)
        schedule = await self._schedule(d, desired.fingerprint)
        fires: list[datetime] = []
        by_hand: list[tuple[datetime, datetime]] = []
        journal = (self._journals or {}).get(schedule_id(d))
        if d.enabled:
            if schedule.exists:
                try:
                    # With a journal, fires count from the first write it knows, each by the
                    # state then in force; without, from the schedule's last change.
                    since = max(start, journal[0].at if journal else schedule.since or start)
                    fires = await matching_times(self._client, schedule_id(d), since, now)
                except RPCError as err:
                    if err.status != RPCStatusCode.NOT_FOUND:
                        raise
                    schedule = ScheduleSeen(exists=False)
            if schedule.exists and journal:
                fires, by_hand = expected_fires(
                    segments(journal, now),
                    current_fingerprint=desired.fingerprint,
                    server_fires=fires,
                    start=start,
                    now=now + timedelta(seconds=1),
                    local_fires=_trigger_fires,
                )
            if not schedule.exists:
                fires = misfire.fires_between(trig, start, now)
                schedule.fires_from = "local"
        runs = await self._runs(d, start, now) if d.enabled else []
        deliveries = await self._deliveries(d, start, runs) if d.enabled else []
        return seen_of(
            d,
            start,
            expected_fires=fires,
            runs=runs,
            deliveries=deliveries,
            schedule=schedule,
            paused_by_hand=by_hand,
        )

    async def _schedule(self, d: ActivityDefinition, fingerprint: str) -> ScheduleSeen:
        try:
            desc = await self._client.get_schedule_handle(schedule_id(d)).describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            return ScheduleSeen(exists=False)
        policy = desc.schedule.policy
        state = desc.schedule.state
        nxt = desc.info.next_action_times
        return ScheduleSeen(
            exists=True,
            paused=state.paused,
            overlap=policy.overlap.name if policy.overlap is not None else None,
            catchup_window_s=(
                policy.catchup_window.total_seconds() if policy.catchup_window else None
            ),
            up_to_date=fingerprint in (state.note or ""),
            buffered=int(desc.raw_description.info.buffer_size),
            missed_catchup_window=desc.info.num_actions_missed_catchup_window,
            buffer_dropped=desc.raw_description.info.buffer_dropped,
            next_fire=None if state.paused or not nxt else nxt[0],
            since=max(t for t in (desc.info.created_at, desc.info.last_updated_at) if t),
        )

    async def _runs(self, d: ActivityDefinition, start: datetime, now: datetime) -> list[RunSeen]:
        query = (
            f"WorkflowType = '{ACTIVITY_RUN_WORKFLOW}' AND ActivityId = '{d.id}' AND "
            f"(StartTime >= '{sa.visibility_time(start)}' OR ExecutionStatus = 'Running')"
        )
        runs: list[RunSeen] = []
        async for ex in self._client.list_workflows(query, limit=5000):
            runs.append(await self._run(ex, now))
        return runs + await self._recorded(d, start, {r.workflow_id for r in runs})

    async def _recorded(
        self, d: ActivityDefinition, start: datetime, known: set[str]
    ) -> list[RunSeen]:
        """Closed runs the ledger has and Temporal no longer does (past its retention)."""
        if self._ledger is None:
            return []
        try:
            rows = await self._ledger.runs(activity_id=str(d.id), since=start, limit=5000)
        except STORE_ERRORS as exc:
            if self._strict:
                raise
            log.warning("ledger unavailable to the watchdog", extra={"error": type(exc).__name__})
            return []
        return [
            RunSeen(
                workflow_id=r.run_id,
                nominal=r.nominal_fire,
                scheduled_for=r.scheduled_for,
                outcome=r.outcome,
                status=r.state,
                started_at=r.fired_at or r.started_at or r.updated_at,
                closed_at=r.finished_at,
                lateness_s=r.lateness_seconds,
                covered_fires=list(r.covered_fires),
            )
            for r in rows
            if r.run_id not in known and r.state != "running"
        ]

    async def _run(self, ex: WorkflowExecution, now: datetime) -> RunSeen:
        attrs = ex.typed_search_attributes
        status = ex.status.name.lower() if ex.status else "unknown"
        backfilled = attrs.get(sa.RUN_TRIGGER) == "backfill"
        run = RunSeen(
            workflow_id=ex.id,
            # A backfill run stands for the fire it was started for (its ScheduledFor).
            nominal=attrs.get(sa.SCHEDULED_START_TIME)
            or (attrs.get(sa.SCHEDULED_FOR) if backfilled else None),
            scheduled_for=attrs.get(sa.SCHEDULED_FOR),
            outcome=attrs.get(sa.RUN_OUTCOME),
            status=status,
            started_at=ex.start_time,
            closed_at=ex.close_time,
            task_queue=ex.task_queue or None,
        )
        if status == "running":
            run.unclaimed_since, run.failing = await self._pending(ex, now)
        elif run.outcome in _RESULT_READ:
            result = await self._result(ex)
            if result:
                run.lateness_s = float(result.get("lateness_seconds") or 0.0)
                run.covered_fires = [
                    datetime.fromisoformat(str(c)) for c in result.get("covered_fires") or []
                ]
        return run

    async def _pending(
        self, ex: WorkflowExecution, now: datetime
    ) -> tuple[datetime | None, str | None]:
        """When the oldest task of an open run that no worker has started was scheduled,
        and which of its steps keeps failing (retried after an error), if any."""
        try:
            desc = await self._client.get_workflow_handle(ex.id, run_id=ex.run_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None, None
            raise
        raw = desc.raw_description
        failing = next(
            (
                f"{act.activity_type.name} failing (attempt {act.attempt}): "
                f"{act.last_failure.message[:160]}"
                for act in raw.pending_activities
                if act.attempt > 1 and act.HasField("last_failure")
            ),
            None,
        )
        waiting: list[datetime] = []
        if raw.HasField("pending_workflow_task"):
            wt = raw.pending_workflow_task
            if wt.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED:
                waiting.append(wt.scheduled_time.ToDatetime(tzinfo=UTC))
        for act in raw.pending_activities:
            if act.state != PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED:
                continue
            if not act.HasField("scheduled_time"):
                continue
            scheduled = act.scheduled_time.ToDatetime(tzinfo=UTC)
            started = (
                act.last_started_time.ToDatetime(tzinfo=UTC)
                if act.HasField("last_started_time")
                else None
            )
            if scheduled <= now and (started is None or started < scheduled):
                waiting.append(scheduled)
        return (min(waiting) if waiting else None), failing

    async def _result(self, ex: WorkflowExecution) -> dict[str, Any] | None:
        try:
            result = await self._client.get_workflow_handle(ex.id, run_id=ex.run_id).result()
        except Exception as exc:  # a run's result is a refinement; never fail the pass on it
            log.warning("could not read run result", extra={"run": ex.id, "error": str(exc)})
            return None
        return result if isinstance(result, dict) else None

    async def _deliveries(
        self, d: ActivityDefinition, start: datetime, runs: list[RunSeen]
    ) -> list[DeliverySeen]:
        query = (
            f"WorkflowType = '{REPORT_DELIVERY_WORKFLOW}' AND ActivityId = '{d.id}' AND "
            "ExecutionStatus != 'ContinuedAsNew' AND "
            f"(StartTime >= '{sa.visibility_time(start)}' OR ExecutionStatus = 'Running')"
        )
        prefixes = sorted(
            ((f"delivery-{r.workflow_id}-", r.workflow_id) for r in runs),
            key=lambda p: -len(p[0]),
        )
        out: list[DeliverySeen] = []
        async for ex in self._client.list_workflows(query, limit=5000):
            run_id = next((rid for pre, rid in prefixes if ex.id.startswith(pre)), None)
            if run_id is None:
                continue  # an alert's delivery, or a run outside the look-back
            attrs = ex.typed_search_attributes
            out.append(
                DeliverySeen(
                    workflow_id=ex.id,
                    run_id=run_id,
                    sink=attrs.get(sa.DELIVERY_SINK) or "?",
                    state=attrs.get(sa.DELIVERY_STATUS) or "?",
                    started_at=ex.start_time,
                )
            )
        return out
