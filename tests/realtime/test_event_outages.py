"""The router across outages: Temporal down while events arrive, NATS restarted under a
running router. Real servers, real restarts; every event ends as exactly one run."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path

import nats
import pytest
from temporalio.testing import WorkflowEnvironment

from activity_core.events import consumer_lag
from tests.events.conftest import NatsServer, RunningRouter, define_event_type, launch_router
from tests.events.test_router import envelope, listen, runs_of
from tests.helpers import RestartableServer, Stack, assert_eventually, running_stack

pytestmark = pytest.mark.timeout(240)


async def _router(stack: Stack, server: NatsServer) -> RunningRouter:
    return await launch_router(
        stack, server, router_ack_wait_seconds=20.0, router_start_timeout_seconds=3.0
    )


async def test_temporal_down_while_100_events_arrive_then_100_runs_none_twice(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    temporal = RestartableServer(tmp_path / "temporal.db")
    client = await temporal.start()
    broker = NatsServer(tmp_path / "nats").start()
    task: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    try:
        async with running_stack(env, client, tmp_path / "stack") as stack:
            define_event_type(stack, "user.created")
            name = f"outage-{uuid.uuid4().hex[:6]}"
            listen(stack, name)
            running = await _router(stack, broker)
            router, task, stop = running.router, running.task, running.stop
            nc = await nats.connect(broker.url)
            js = nc.jetstream()

            temporal.stop()
            events = [envelope() for _ in range(100)]
            for e in events:
                await js.publish("activity.user.created", json.dumps(e).encode())

            async def failing() -> None:
                assert router.counts["start_failed"] > 0, router.counts

            await assert_eventually(failing, within=30)
            assert router.counts["started"] == 0
            lag = await consumer_lag(js)
            assert lag.pending + lag.ack_pending == 100  # nothing acked, nothing dropped

            await temporal.start()

            async def all_ran() -> None:
                ids = await runs_of(stack, name)
                assert len(ids) == 100, len(ids)

            await assert_eventually(all_ran, within=120, interval=1.0)
            ids = await runs_of(stack, name)
            assert sorted(ids) == sorted(
                f"activity-run-{name}-event-{e['event_id']}" for e in events
            )

            async def drained() -> None:
                lag = await consumer_lag(js)
                assert lag.pending == 0 and lag.ack_pending == 0, lag

            await assert_eventually(drained, within=60)
            assert router.counts["dead_letter"] == 0
            await nc.close()
            stop.set()
            await asyncio.wait_for(task, 15)
    finally:
        stop.set()
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        broker.stop()
        temporal.stop()


async def test_nats_restart_under_a_running_router_loses_no_event(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    broker = NatsServer(tmp_path / "nats").start()
    task: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    try:
        async with running_stack(env, env.client, tmp_path / "stack") as stack:
            define_event_type(stack, "user.created")
            name = f"natsrestart-{uuid.uuid4().hex[:6]}"
            listen(stack, name)
            running = await _router(stack, broker)
            task, stop = running.task, running.stop
            nc = await nats.connect(broker.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
            js = nc.jetstream()
            events = [envelope() for _ in range(40)]
            for e in events[:20]:
                await js.publish("activity.user.created", json.dumps(e).encode())
            broker.stop()
            await asyncio.sleep(1.0)
            broker.start()
            await asyncio.sleep(1.0)
            for e in events[20:]:
                await js.publish("activity.user.created", json.dumps(e).encode())

            async def all_ran() -> None:
                ids = await runs_of(stack, name)
                assert len(ids) == 40, len(ids)

            await assert_eventually(all_ran, within=90, interval=1.0)
            assert len(set(await runs_of(stack, name))) == 40
            await nc.close()
            stop.set()
            await asyncio.wait_for(task, 15)
    finally:
        stop.set()
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        broker.stop()
