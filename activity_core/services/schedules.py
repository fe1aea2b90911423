"""Schedule sync: make the server's Temporal Schedules match the definitions.

The desired schedules come from the pure mapping in
:mod:`activity_core.domain.schedule_spec`; their fingerprints let one ``ListSchedules``
call tell which are unchanged, and those get no writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleAlreadyRunningError,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.schedule import matching_times
from activity_core.domain.constants import SCHEDULE_ID_PREFIX, WATCHDOG_SCHEDULE_ID
from activity_core.domain.definition import ActivityDefinition
from activity_core.domain.ledger import ScheduleChange
from activity_core.domain.schedule_spec import (
    WATCHDOG_PAUSE_MARK,
    DesiredSchedule,
    build_schedule,
    is_scheduled,
    schedule_id,
    watchdog_schedule,
)
from activity_core.errors import DefinitionsError, MassRemovalRefused
from activity_core.settings import Settings

SYNC_CONCURRENCY = 16


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
    fingerprint: str = ""
    """The desired state written (journal only; not in the table)."""
    catchup_window_seconds: float | None = None
    """The catchup window in seconds (journal only)."""
    trigger: dict[str, Any] | None = None
    """The trigger written (journal only)."""
    unpaused: bool = False
    """An update that also unpaused a schedule paused by hand (journal: ``unpause``)."""

    def as_dict(self) -> dict[str, str]:
        """The table's columns."""
        return {
            k: str(v)
            for k, v in self.__dict__.items()
            if k not in ("fingerprint", "catchup_window_seconds", "trigger", "unpaused")
        }

    def journal_entry(self, actor: str, at: datetime) -> ScheduleChange:
        """This change as a ``schedule_changes`` row (for writes, not ``unchanged``)."""
        assert self.action != "unchanged"
        return ScheduleChange(
            schedule_id=self.schedule_id,
            label=self.label,
            action="unpause" if self.unpaused else self.action,
            fingerprint=self.fingerprint,
            policy=self.policy,
            overlap=self.overlap,
            catchup_window_seconds=self.catchup_window_seconds,
            actor=actor,
            at=at,
            trigger=self.trigger,
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
    prune_all: bool = False,
) -> list[SyncChange]:
    """Make the server's schedules match the definitions.

    Creates missing schedules (paused when the definition is disabled), updates changed
    ones, pauses/unpauses on ``enabled``, and deletes schedules with our prefix that no
    definition claims (unless ``prune`` is False). Unchanged schedules are not written.
    ``extras`` are the system schedules (:func:`system_schedules`); with ``None`` the
    watchdog schedule is left as it is, with a list it is created, updated or pruned too.

    Returns:
        One change per schedule considered, including ``unchanged`` ones.

    Raises:
        MassRemovalRefused: Pruning would delete all or most of the definitions' schedules
            (an empty or half-copied directory) and ``prune_all`` is not set. Nothing is
            written.
    """
    desired = desired_schedules(definitions, extras or ())
    existing = await _existing(client, extras is not None)
    if prune and not prune_all:
        wanted = {d.schedule_id for d in desired}
        ours = [sid for sid in existing if sid.startswith(SCHEDULE_ID_PREFIX)]
        doomed = [sid for sid in ours if sid not in wanted]
        if mass_removal(len(ours), len(doomed)):
            raise MassRemovalRefused(
                f"sync would delete {len(doomed)} of the {len(ours)} definition schedules "
                f"(only {len(definitions)} definitions were given). If that is what you want, "
                "run `actcore sync --prune-all`; otherwise check ACTCORE_DEFINITIONS_DIR."
            )
    gate = asyncio.Semaphore(concurrency)
    changes: list[SyncChange] = []

    def change(action: Action, d: DesiredSchedule) -> SyncChange:
        return SyncChange(
            action,
            d.schedule_id,
            d.label,
            d.policy,
            d.overlap,
            f"{d.catchup_window}",
            d.fingerprint,
            d.catchup_window.total_seconds(),
            d.trigger,
        )

    async def apply(d: DesiredSchedule) -> SyncChange:
        current = existing.get(d.schedule_id)
        if current is not None and current[1] and current[0].startswith(WATCHDOG_PAUSE_MARK):
            return change("unchanged", d)  # paused by the watchdog: an operator unpauses it
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
                    await client.create_schedule(
                        d.schedule_id, d.schedule, search_attributes=d.search_attributes
                    )
                    return change("create", d)
                except ScheduleAlreadyRunningError:
                    action = "update"  # visibility lagged behind an earlier create
            handle = client.get_schedule_handle(d.schedule_id)
            if action in ("pause", "unpause"):
                note = d.schedule.state.note
                await (handle.pause(note=note) if action == "pause" else handle.unpause(note=note))
                return change(action, d)

            def updater(_: ScheduleUpdateInput, schedule: Schedule = d.schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=schedule, search_attributes=d.search_attributes)

            await handle.update(updater)
            updated = change("update", d)
            # Paused by hand (a hand pause replaces the note, so it reads as an update):
            # the journal records the unpause, and the watchdog its cause.
            updated.unpaused = bool(current and current[1]) and not d.schedule.state.paused
            return updated

    async def delete(sid: str) -> SyncChange:
        if dry_run:
            return SyncChange("delete", sid, "(no definition)")
        async with gate:
            return await delete_schedule(client, sid)

    async def guarded(d: DesiredSchedule) -> SyncChange:
        try:
            return await apply(d)
        except RPCError as err:
            raise DefinitionsError(
                [
                    f"{d.label}: trigger_config: the Temporal server refused its schedule "
                    f"({err.message}); fix the definition and sync again"
                ]
            ) from None

    outcomes = await asyncio.gather(*(guarded(d) for d in desired), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, DefinitionsError)]
    for o in outcomes:
        if isinstance(o, BaseException) and not isinstance(o, DefinitionsError):
            raise o
    if refused:
        # Every other schedule was written; the refused ones are named, nothing is pruned.
        raise DefinitionsError([line for r in refused for line in r.errors])
    changes = [o for o in outcomes if isinstance(o, SyncChange)]
    if prune:
        wanted = {d.schedule_id for d in desired}
        orphans = [sid for sid in existing if sid not in wanted]
        changes += await asyncio.gather(*(delete(sid) for sid in orphans))
    return changes


async def delete_schedule(client: Client, sid: str, label: str = "(no definition)") -> SyncChange:
    """Delete one schedule; one that is gone already counts as deleted."""
    try:
        await client.get_schedule_handle(sid).delete()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    return SyncChange("delete", sid, label)


def mass_removal(existing: int, removed: int) -> bool:
    """Whether removing ``removed`` of ``existing`` things looks like an accident: all of
    them, or more than half of four or more."""
    return existing > 0 and (removed == existing or (existing >= 4 and removed * 2 > existing))


PREVIEW_SPAN = timedelta(days=400)


async def preview_fires(
    client: Client, definition: ActivityDefinition, count: int
) -> list[datetime] | None:
    """The next ``count`` fires of a definition, as the server computes them.

    When the definition has no schedule on the server yet, a paused temporary copy is
    created for the question and deleted after it.

    Returns:
        The fire times (UTC), or None when the definition has no schedule at all.
    """
    if not is_scheduled(definition):
        return None
    desired = build_schedule(definition)
    sid = schedule_id(definition)
    temp = None
    try:
        await client.get_schedule_handle(sid).describe()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        temp = f"activity-preview-{definition.id}-{int(datetime.now(UTC).timestamp())}"
        desired.schedule.state.paused = True
        await client.create_schedule(temp, desired.schedule)
    try:
        now = datetime.now(UTC)
        fires = await matching_times(client, temp or sid, now, now + PREVIEW_SPAN)
    finally:
        if temp:
            await client.get_schedule_handle(temp).delete()
    return fires[:count]
