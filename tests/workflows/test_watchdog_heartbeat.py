"""A watchdog pass whose observe attempt hangs (its worker or server went away mid-pass)
resumes after the heartbeat timeout, not after the attempt's whole start-to-close timeout:
the watchdog is blind for seconds, not minutes."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from activities.watchdog import WatchdogActivities
from activity_core.domain import ObserveInput, WatchdogInput, WatchdogPlan
from activity_core.domain.constants import WATCHDOG_OBSERVE_HEARTBEAT, WATCHDOG_OBSERVE_TIMEOUT
from tests.helpers import Stack
from workflows.watchdog import MissedFireWatchdogWorkflow


async def test_a_hung_observe_attempt_is_retried_after_the_heartbeat_timeout(
    stack: Stack,
) -> None:
    stack.define("beating")  # judged (nothing is due): the pass raises no alert
    attempts: list[int] = []
    async with httpx.AsyncClient() as http:
        real = WatchdogActivities(stack.client, http, stack.settings, stack.store)

        @activity.defn(name="watchdog_observe")
        async def hangs_once(inp: ObserveInput) -> WatchdogPlan:
            attempts.append(activity.info().attempt)
            if activity.info().attempt == 1:
                await asyncio.sleep(3600)  # hung: no heartbeat, as a stopped process
            return await real.observe(inp)  # the real one, heartbeating while it judges

        queue = f"watchdog-{uuid.uuid4().hex[:8]}"
        worker = Worker(
            stack.client,
            task_queue=queue,
            workflows=[MissedFireWatchdogWorkflow],
            activities=[hangs_once, real.ping],
        )
        async with worker:
            with stack.env.with_time_skipping_disabled():
                began = time.monotonic()
                handle = await stack.client.start_workflow(
                    MissedFireWatchdogWorkflow.run,
                    WatchdogInput(names=["beating"], lookback_seconds=600),
                    id=f"beating-pass-{uuid.uuid4().hex[:6]}",
                    task_queue=queue,
                )
                result = await asyncio.wait_for(handle.result(), 120)
                took = time.monotonic() - began
    assert attempts[:2] == [1, 2] and result.raised == []
    # Resumed after about one heartbeat timeout, far inside the attempt's own timeout.
    assert WATCHDOG_OBSERVE_HEARTBEAT.total_seconds() * 0.9 <= took, took
    assert took < WATCHDOG_OBSERVE_TIMEOUT.total_seconds() / 4, took
    timeouts = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "watchdog_observe":
                timeouts.append(attrs.heartbeat_timeout.ToTimedelta())
    assert timeouts == [WATCHDOG_OBSERVE_HEARTBEAT]
