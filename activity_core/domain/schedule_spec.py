"""Definitions to Temporal Schedules: the pure mapping, and the options every run start uses.

``build_schedule`` turns a definition into the exact Schedule it should have. The
schedule's note carries a fingerprint of that desired state, so a sync can tell from one
``ListSchedules`` call which schedules are unchanged. Workflows are named by their
registered type string, so this module imports no workflow code. No I/O.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.common import TypedSearchAttributes

from activity_core.domain import misfire
from activity_core.domain import search_attributes as sa
from activity_core.domain.constants import (
    ACTIVITY_RUN_WORKFLOW,
    ORCHESTRATOR_TQ,
    SCHEDULE_ID_PREFIX,
    WATCHDOG_SCHEDULE_ID,
    WATCHDOG_TQ,
    WATCHDOG_WORKFLOW,
)
from activity_core.domain.definition import (
    ActivityDefinition,
    CronTrigger,
    IntervalTrigger,
    MisfirePolicy,
)
from activity_core.domain.events import EventEnvelope
from activity_core.domain.run import RunInput, TriggerKind
from activity_core.domain.watchdog_io import WatchdogInput

NOTE_PREFIX = "managed by activity-core sync; fingerprint "
WATCHDOG_PAUSE_MARK = "paused by the activity-core watchdog"
"""Starts the note of a schedule the watchdog paused (``watch.pause_after``): sync leaves
it paused until someone unpauses it."""

OVERLAP = {
    MisfirePolicy.SKIP: ScheduleOverlapPolicy.SKIP,
    MisfirePolicy.CATCHUP_ALL: ScheduleOverlapPolicy.BUFFER_ALL,
    MisfirePolicy.CATCHUP_LATEST: ScheduleOverlapPolicy.SKIP,
}


def schedule_id(definition: ActivityDefinition) -> str:
    """``activity-schedule-<definition id>`` (the id operators already use)."""
    return f"{SCHEDULE_ID_PREFIX}{definition.id}"


def run_id_prefix(definition: ActivityDefinition) -> str:
    """Workflow id prefix of scheduled runs; the server appends ``-<nominal time>``."""
    return f"activity-run-{definition.name}"


def is_scheduled(definition: ActivityDefinition) -> bool:
    """Whether the definition gets a schedule (cron and interval triggers)."""
    return isinstance(definition.trigger_config, CronTrigger | IntervalTrigger)


def describe_trigger(definition: ActivityDefinition) -> str:
    """``cron `20 7 * * *` (Europe/Berlin)``, ``every 30 s``, ``event x.y`` or ``manual``."""
    trig = definition.trigger_config
    if isinstance(trig, CronTrigger):
        return f"cron `{trig.cron_expression}` ({trig.timezone})"
    if isinstance(trig, IntervalTrigger):
        return f"every {trig.every_seconds} s"
    if trig.trigger_type == "event":
        return f"event `{trig.event_type}`"
    return "manual"


@dataclass(frozen=True)
class RunStart:
    """What every start of ActivityRunWorkflow passes: input, UI texts, search attributes."""

    input: RunInput
    summary: str
    """``static_summary`` (at most 200 bytes)."""
    details: str
    """``static_details`` (markdown)."""
    search_attributes: TypedSearchAttributes
    """``ActivityId`` and ``ActivityName``."""


def run_start(
    definition: ActivityDefinition, trigger: TriggerKind, event: EventEnvelope | None = None
) -> RunStart:
    """Start options of a run of ``definition`` started by a schedule, by hand or by an event."""
    head = f"**{definition.name}** ({definition.handler}), {describe_trigger(definition)}"
    trig = definition.trigger_config
    if isinstance(trig, CronTrigger | IntervalTrigger):
        head += f", misfire policy `{trig.misfire_policy.value}`"
    if trigger == "schedule":
        summary, how = f"{definition.name}: scheduled run", ""
    elif trigger == "manual":
        summary, how = f"manual run of {definition.name}", "\n\nTriggered by hand."
    elif event is not None:
        summary = f"{definition.name}: event {event.type} {event.event_id}"
        how = (
            f"\n\nStarted by event `{event.event_id}` of type `{event.type}` from "
            f"`{event.source}` (subject `{event.subject}`, occurred "
            f"{event.occurred_at.isoformat()}, trace `{event.trace_id}`)."
        )
    else:
        summary, how = f"{definition.name}: {trigger} run", ""
    return RunStart(
        input=RunInput(
            activity_id=str(definition.id),
            activity_name=definition.name,
            trigger=trigger,
            event=event,
        ),
        summary=summary[:200],
        details=f"{head}\n\n{definition.description}{how}",
        search_attributes=sa.definition_attributes(str(definition.id), definition.name),
    )


@dataclass(frozen=True)
class DesiredSchedule:
    """A schedule as sync should leave it."""

    schedule_id: str
    schedule: Schedule
    fingerprint: str
    label: str
    """Human name for tables (definition name, or e.g. 'watchdog')."""
    policy: str
    overlap: str
    catchup_window: timedelta
    trigger: dict[str, Any] | None = None
    """The definition's trigger as JSON (kept in the journal: fires under an older spec
    can be computed after it changed)."""
    search_attributes: TypedSearchAttributes | None = None
    """On the schedule itself (``ActivityId``, ``ActivityName``): the Web UI's Schedules
    page and ``temporal schedule list --query`` can find a definition's schedule."""


def _fingerprint(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_schedule(definition: ActivityDefinition) -> DesiredSchedule:
    """The Schedule a cron or interval definition should have.

    Raises:
        ValueError: The definition has no schedule (event or manual trigger).
    """
    trig = definition.trigger_config
    if not isinstance(trig, CronTrigger | IntervalTrigger):
        raise ValueError(f"{definition.name}: {trig.trigger_type} triggers have no schedule")
    jitter = timedelta(seconds=trig.jitter_seconds) if trig.jitter_seconds else None
    if isinstance(trig, CronTrigger):
        spec = ScheduleSpec(
            cron_expressions=[trig.cron_expression], time_zone_name=trig.timezone, jitter=jitter
        )
    else:
        spec = ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=trig.every_seconds))],
            jitter=jitter,
        )
    catchup = misfire.window(trig)
    overlap = OVERLAP[trig.misfire_policy]
    parts = {
        "id": str(definition.id),
        "name": definition.name,
        "spec": [trig.model_dump(mode="json")],
        "catchup_s": catchup.total_seconds(),
        "overlap": overlap.name,
        "queue": ORCHESTRATOR_TQ,
        # 2: the note names the definition first, and the schedule has search attributes.
        "version": 2,
    }
    fingerprint = _fingerprint(parts)
    start = run_start(definition, "schedule")
    action = ScheduleActionStartWorkflow(
        ACTIVITY_RUN_WORKFLOW,
        start.input,
        id=run_id_prefix(definition),
        task_queue=ORCHESTRATOR_TQ,
        static_summary=start.summary,
        static_details=start.details,
        typed_search_attributes=start.search_attributes,
    )
    schedule = Schedule(
        action=action,
        spec=spec,
        policy=SchedulePolicy(overlap=overlap, catchup_window=catchup),
        state=ScheduleState(
            note=f"{definition.name}: {NOTE_PREFIX}{fingerprint}"
            + ("" if definition.enabled else "; disabled"),
            paused=not definition.enabled,
        ),
    )
    return DesiredSchedule(
        schedule_id=schedule_id(definition),
        schedule=schedule,
        fingerprint=fingerprint,
        label=definition.name,
        policy=trig.misfire_policy.value,
        overlap=overlap.name,
        catchup_window=catchup,
        trigger=trig.model_dump(mode="json"),
        search_attributes=start.search_attributes,
    )


def watchdog_schedule(interval_seconds: int) -> DesiredSchedule:
    """``activity-core-watchdog``: a MissedFireWatchdogWorkflow pass every interval."""
    every = timedelta(seconds=interval_seconds)
    catchup = timedelta(seconds=max(misfire.MIN_WINDOW_S, interval_seconds))
    parts = {"every_s": interval_seconds, "queue": WATCHDOG_TQ, "version": 1}
    fingerprint = _fingerprint(parts)
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            WATCHDOG_WORKFLOW,
            WatchdogInput(),
            id=WATCHDOG_SCHEDULE_ID,
            task_queue=WATCHDOG_TQ,
            static_summary="missed-fire watchdog pass",
            static_details=(
                "Accounts for every expected fire of every scheduled definition and alerts "
                "once per problem (docs/watchdog.md)."
            ),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=catchup),
        state=ScheduleState(note=f"{NOTE_PREFIX}{fingerprint}"),
    )
    return DesiredSchedule(
        schedule_id=WATCHDOG_SCHEDULE_ID,
        schedule=schedule,
        fingerprint=fingerprint,
        label="(watchdog)",
        policy="skip",
        overlap="SKIP",
        catchup_window=catchup,
    )
