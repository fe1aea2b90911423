"""Activities that ask the Temporal server about schedules (the oracle for fire times)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio import activity
from temporalio.api.workflowservice.v1 import ListScheduleMatchingTimesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activity_core.domain import (
    ActivityDefinition,
    CronTrigger,
    FirePlan,
    IntervalTrigger,
    MisfirePolicy,
    PlanFireInput,
    RunOutcome,
    misfire,
)
from activity_core.domain import search_attributes as sa


def _ts(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when.astimezone(UTC))
    return ts


MATCHING_PAGE = 1000
"""Most times the server returns for one ``ListScheduleMatchingTimes`` (its default
``frontend.maxListMatchingTimesCount``)."""


async def matching_times(
    client: Client, schedule_id: str, start: datetime, end: datetime
) -> list[datetime]:
    """Fire times of a schedule in [start, end], computed by the server itself.

    The server answers at most :data:`MATCHING_PAGE` times per call: a longer range (a
    day of a minutely schedule) is asked again from the last time it gave, until done.
    """
    out: list[datetime] = []
    while True:
        response = await client.workflow_service.list_schedule_matching_times(
            ListScheduleMatchingTimesRequest(
                namespace=client.namespace,
                schedule_id=schedule_id,
                start_time=_ts(start),
                end_time=_ts(end),
            ),
            retry=True,
        )
        page = [t.ToDatetime().replace(tzinfo=UTC) for t in response.start_time]
        out += [t for t in page if not out or t > out[-1]]
        if len(page) < MATCHING_PAGE or not page or page[-1] >= end:
            return out
        start = page[-1] + timedelta(microseconds=1)


SAME_FIRE = timedelta(seconds=1)
"""Two times closer than this are the same fire."""
ALIGNED_READ_S = 5.0
"""Longest the burst count waits on the catalogue (then: no allowance)."""
ALIGNED_KEPT = 256
"""Fires whose burst size a worker remembers."""


class ScheduleActivities:
    """Schedule look-ups; one instance per worker."""

    def __init__(
        self,
        client: Client,
        definitions: Callable[[], Awaitable[list[ActivityDefinition]]] | None = None,
        aligned_start_s: float = misfire.ALIGNED_START_S,
    ) -> None:
        """Build once per worker with the worker's Temporal client; ``definitions`` (the
        catalogue) tells the guard how many definitions share a fire."""
        self._client = client
        self._definitions = definitions
        self._aligned_start_s = aligned_start_s
        self._aligned_by_fire: dict[datetime, int] = {}
        self._aligned_lock = asyncio.Lock()

    async def _aligned(self, nominal: datetime) -> int:
        """The burst at ``nominal``: counted once per fire and worker (the first run of the
        burst reads the catalogue, the others wait for its answer), not once per run."""
        if self._definitions is None:
            return 1
        key = nominal.astimezone(UTC).replace(microsecond=0)
        async with self._aligned_lock:
            if key not in self._aligned_by_fire:
                while len(self._aligned_by_fire) >= ALIGNED_KEPT:
                    self._aligned_by_fire.pop(next(iter(self._aligned_by_fire)))
                try:
                    definitions = await asyncio.wait_for(self._definitions(), ALIGNED_READ_S)
                    count = await asyncio.to_thread(misfire.aligned_at, definitions, key)
                except Exception as err:  # an allowance, never a reason to fail a run
                    activity.logger.warning("definitions not read for the burst count: %s", err)
                    count = 1  # remembered: the rest of the burst does not wait on it again
                self._aligned_by_fire[key] = count
            return max(1, self._aligned_by_fire[key])

    async def _actions(self, schedule_id: str) -> list[tuple[datetime, str]] | None:
        """(nominal time, workflow id) of the schedule's recent actions (None: no schedule)."""
        try:
            desc = await self._client.get_schedule_handle(schedule_id).describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            return None
        return [
            (a.scheduled_at, str(getattr(a.action, "workflow_id", "")))
            for a in desc.info.recent_actions
        ]

    async def _unstarted_before(
        self, schedule_id: str, nominal: datetime, actions: list[tuple[datetime, str]]
    ) -> list[datetime]:
        """Fires between the schedule's previous action and ``nominal`` that no run stands
        for: the server dropped them (down past their window) or skipped them as overlaps.

        The previous run stands for the fires up to its ``ScheduledFor`` (its own, or the
        latest due fire its guard ran as); a fire after that never gets a run of its own,
        whether the server was down at its time, the previous run was still open, or a
        server just back still counted that run as open. This run stands for them.
        """
        earlier = [(at, wid) for at, wid in actions if at < nominal - SAME_FIRE]
        if not earlier:
            return []  # a new schedule, or its history is beyond the recent actions
        previous, previous_id = max(earlier)
        try:
            desc = await self._client.get_workflow_handle(previous_id).describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            return []  # past retention: nothing to say
        if desc.close_time is None:
            return []  # its guard may still run it as the latest due fire
        attrs = desc.typed_search_attributes
        stood_for = previous
        if attrs.get(sa.RUN_OUTCOME) != RunOutcome.SUPERSEDED.value:  # superseded: stood for none
            stood_for = max(previous, attrs.get(sa.SCHEDULED_FOR) or previous)
        fires = await matching_times(self._client, schedule_id, previous, nominal)
        started = [at for at, _ in actions]
        return [
            f
            for f in fires
            if stood_for + SAME_FIRE <= f < nominal - SAME_FIRE
            and not any(abs(f - at) < SAME_FIRE for at in started)
        ]

    @activity.defn(name="plan_fire")
    async def plan_fire(self, inp: PlanFireInput) -> FirePlan:
        """Window, tolerance and the later due fires for a scheduled run's guard."""
        trig = inp.definition.trigger_config
        assert isinstance(trig, CronTrigger | IntervalTrigger)
        window = await asyncio.to_thread(misfire.catchup_window_seconds, trig)
        aligned = await self._aligned(inp.nominal)
        allowance = misfire.queue_allowance_seconds(aligned, self._aligned_start_s)
        plan = FirePlan(
            window_s=window + trig.jitter_seconds + allowance,
            tolerance_s=misfire.on_time_tolerance_seconds(trig, inp.definition.watch) + allowance,
            aligned=aligned,
            queue_allowance_s=allowance,
        )
        if trig.misfire_policy != MisfirePolicy.CATCHUP_LATEST:
            # Only a catchup_latest run looks past its own fire. Asking the server costs a
            # query of the schedule's own workflow: at the top of the hour a thousand of
            # them held up the very schedules that were starting the burst.
            return plan
        if inp.schedule_id:
            now = datetime.now(UTC)
            try:
                fires = await matching_times(self._client, inp.schedule_id, inp.nominal, now)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                activity.logger.warning("schedule %s not found; no later fires", inp.schedule_id)
                fires = []
            plan.later_fires = [f for f in fires if f > inp.nominal]
            actions = await self._actions(inp.schedule_id) or []
            me = activity.info().workflow_id or ""
            plan.fires_with_own_run = sorted(
                at for at, wid in actions if at > inp.nominal and wid != me
            )
            plan.unstarted_before = await self._unstarted_before(
                inp.schedule_id, inp.nominal, actions
            )
        return plan
