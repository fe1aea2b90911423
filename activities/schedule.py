"""Activities that ask the Temporal server about schedules (the oracle for fire times)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio import activity
from temporalio.api.workflowservice.v1 import ListScheduleMatchingTimesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activity_core.domain import CronTrigger, FirePlan, IntervalTrigger, PlanFireInput, misfire


def _ts(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when.astimezone(UTC))
    return ts


async def matching_times(
    client: Client, schedule_id: str, start: datetime, end: datetime
) -> list[datetime]:
    """Fire times of a schedule in [start, end], computed by the server itself."""
    response = await client.workflow_service.list_schedule_matching_times(
        ListScheduleMatchingTimesRequest(
            namespace=client.namespace,
            schedule_id=schedule_id,
            start_time=_ts(start),
            end_time=_ts(end),
        ),
        retry=True,
    )
    return [t.ToDatetime().replace(tzinfo=UTC) for t in response.start_time]


class ScheduleActivities:
    """Schedule look-ups; one instance per worker."""

    def __init__(self, client: Client) -> None:
        """Build once per worker with the worker's Temporal client."""
        self._client = client

    async def _fires_with_own_run(self, schedule_id: str, after: datetime) -> list[datetime]:
        """Nominal times after ``after`` that the schedule started a run for."""
        try:
            desc = await self._client.get_schedule_handle(schedule_id).describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            return []
        me = activity.info().workflow_id or ""
        return sorted(
            a.scheduled_at
            for a in desc.info.recent_actions
            if a.scheduled_at > after and getattr(a.action, "workflow_id", me) != me
        )

    @activity.defn(name="plan_fire")
    async def plan_fire(self, inp: PlanFireInput) -> FirePlan:
        """Window, tolerance and the later due fires for a scheduled run's guard."""
        trig = inp.definition.trigger_config
        assert isinstance(trig, CronTrigger | IntervalTrigger)
        window = await asyncio.to_thread(misfire.catchup_window_seconds, trig)
        plan = FirePlan(
            window_s=window + trig.jitter_seconds,
            tolerance_s=misfire.on_time_tolerance_seconds(trig, inp.definition.watch),
        )
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
            if plan.later_fires:
                plan.fires_with_own_run = await self._fires_with_own_run(
                    inp.schedule_id, inp.nominal
                )
        return plan
