"""Definitions to Temporal Schedules: one pure mapping function and an idempotent sync.

``build_schedule`` turns a definition into the exact Schedule it should have. The
schedule's note carries a fingerprint of that desired state, so ``sync`` can tell from
one ``ListSchedules`` call which schedules are unchanged and performs no writes for them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from activity_core import misfire
from activity_core import search_attributes as sa
from activity_core.constants import (
    ORCHESTRATOR_TQ,
    SCHEDULE_ID_PREFIX,
    WATCHDOG_SCHEDULE_ID,
    WATCHDOG_TQ,
)
from activity_core.models import (
    ActivityDefinition,
    CronTrigger,
    IntervalTrigger,
    MisfirePolicy,
    RunInput,
)
from activity_core.settings import Settings
from activity_core.watchdog import WatchdogInput
from workflows.activity_run import ActivityRunWorkflow

NOTE_PREFIX = "managed by activity-core sync; fingerprint "
SYNC_CONCURRENCY = 16

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
        when = f"cron `{trig.cron_expression}` ({trig.timezone})"
    else:
        spec = ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=trig.every_seconds))],
            jitter=jitter,
        )
        when = f"every {trig.every_seconds} s"
    catchup = misfire.window(trig)
    overlap = OVERLAP[trig.misfire_policy]
    parts = {
        "id": str(definition.id),
        "name": definition.name,
        "spec": [trig.model_dump(mode="json")],
        "catchup_s": catchup.total_seconds(),
        "overlap": overlap.name,
        "queue": ORCHESTRATOR_TQ,
        "version": 1,
    }
    fingerprint = _fingerprint(parts)
    action = ScheduleActionStartWorkflow(
        ActivityRunWorkflow.run,
        RunInput(activity_id=str(definition.id), activity_name=definition.name, trigger="schedule"),
        id=run_id_prefix(definition),
        task_queue=ORCHESTRATOR_TQ,
        static_summary=f"{definition.name}: scheduled run"[:200],
        static_details=(
            f"**{definition.name}** ({definition.handler}), {when}, "
            f"misfire policy `{trig.misfire_policy.value}`\n\n{definition.description}"
        ),
        typed_search_attributes=sa.definition_attributes(str(definition.id), definition.name),
    )
    schedule = Schedule(
        action=action,
        spec=spec,
        policy=SchedulePolicy(overlap=overlap, catchup_window=catchup),
        state=ScheduleState(
            note=f"{NOTE_PREFIX}{fingerprint}" + ("" if definition.enabled else "; disabled"),
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
    )


Action = Literal["create", "update", "pause", "unpause", "delete", "unchanged"]


@dataclass
class SyncChange:
    """One line of the sync table."""

    action: Action
    schedule_id: str
    label: str
    policy: str = ""
    overlap: str = ""
    catchup_window: str = ""

    def as_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def watchdog_schedule(interval_seconds: int) -> DesiredSchedule:
    """``activity-core-watchdog``: a MissedFireWatchdogWorkflow pass every interval."""
    from workflows.watchdog import MissedFireWatchdogWorkflow

    every = timedelta(seconds=interval_seconds)
    catchup = timedelta(seconds=max(misfire.MIN_WINDOW_S, interval_seconds))
    parts = {"every_s": interval_seconds, "queue": WATCHDOG_TQ, "version": 1}
    fingerprint = _fingerprint(parts)
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            MissedFireWatchdogWorkflow.run,
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


def system_schedules(settings: Settings) -> list[DesiredSchedule]:
    """Schedules that are not definitions: the watchdog, unless its interval is 0."""
    if settings.watchdog_interval_seconds <= 0:
        return []
    return [watchdog_schedule(settings.watchdog_interval_seconds)]


def desired_schedules(
    definitions: Sequence[ActivityDefinition], extras: Sequence[DesiredSchedule] = ()
) -> list[DesiredSchedule]:
    """Every schedule the definitions (and the system schedules given) call for."""
    return [build_schedule(d) for d in definitions if is_scheduled(d)] + list(extras)


async def _existing(client: Client, system: bool) -> dict[str, tuple[str, bool]]:
    """Our schedules on the server: id -> (note, paused); ``system`` adds the watchdog's."""
    found: dict[str, tuple[str, bool]] = {}
    async for item in await client.list_schedules():
        ours = item.id.startswith(SCHEDULE_ID_PREFIX) or (
            system and item.id == WATCHDOG_SCHEDULE_ID
        )
        if not ours:
            continue
        state = item.schedule.state if item.schedule else None
        found[item.id] = ((state.note or "") if state else "", bool(state and state.paused))
    return found


async def sync_schedules(
    client: Client,
    definitions: Sequence[ActivityDefinition],
    *,
    dry_run: bool = False,
    prune: bool = True,
    concurrency: int = SYNC_CONCURRENCY,
    extras: Sequence[DesiredSchedule] | None = None,
) -> list[SyncChange]:
    """Make the server's schedules match the definitions.

    Creates missing schedules (paused when the definition is disabled), updates changed
    ones, pauses/unpauses on ``enabled``, and deletes schedules with our prefix that no
    definition claims (unless ``prune`` is False). Unchanged schedules are not written.
    ``extras`` are the system schedules (:func:`system_schedules`); with ``None`` the
    watchdog schedule is left as it is, with a list it is created, updated or pruned too.

    Returns:
        One change per schedule considered, including ``unchanged`` ones.
    """
    desired = desired_schedules(definitions, extras or ())
    existing = await _existing(client, extras is not None)
    gate = asyncio.Semaphore(concurrency)
    changes: list[SyncChange] = []

    def change(action: Action, d: DesiredSchedule) -> SyncChange:
        return SyncChange(
            action, d.schedule_id, d.label, d.policy, d.overlap, f"{d.catchup_window}"
        )

    async def apply(d: DesiredSchedule) -> SyncChange:
        current = existing.get(d.schedule_id)
        if current is None:
            action: Action = "create"
        elif d.fingerprint not in current[0]:
            action = "update"
        elif current[1] != d.schedule.state.paused:
            action = "pause" if d.schedule.state.paused else "unpause"
        else:
            return change("unchanged", d)
        if dry_run:
            return change(action, d)
        async with gate:
            if action == "create":
                try:
                    await client.create_schedule(d.schedule_id, d.schedule)
                    return change("create", d)
                except ScheduleAlreadyRunningError:
                    action = "update"  # visibility lagged behind an earlier create
            handle = client.get_schedule_handle(d.schedule_id)
            if action in ("pause", "unpause"):
                note = d.schedule.state.note
                await (handle.pause(note=note) if action == "pause" else handle.unpause(note=note))
                return change(action, d)

            def updater(_: ScheduleUpdateInput, schedule: Schedule = d.schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=schedule)

            await handle.update(updater)
            return change("update", d)

    async def delete(sid: str) -> SyncChange:
        if not dry_run:
            async with gate:
                try:
                    await client.get_schedule_handle(sid).delete()
                except RPCError as err:
                    if err.status != RPCStatusCode.NOT_FOUND:
                        raise
        return SyncChange("delete", sid, "(no definition)")

    changes = list(await asyncio.gather(*(apply(d) for d in desired)))
    if prune:
        wanted = {d.schedule_id for d in desired}
        orphans = [sid for sid in existing if sid not in wanted]
        changes += await asyncio.gather(*(delete(sid) for sid in orphans))
    return changes
