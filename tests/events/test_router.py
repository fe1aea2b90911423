"""The event router against a real nats-server and a real Temporal dev server: the old
runbook's publish snippet starts one run, redeliveries and republishes start none, a
router that dies between start and ack loses nothing, replicas share the work."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from activity_core.domain import RunResult
from activity_core.domain.events import DURABLE, STREAM
from activity_core.events import RouteResult, consumer_lag
from tests.events.conftest import NatsServer, RouterFactory, define_event_type
from tests.helpers import Stack, assert_eventually


def envelope(event_type: str = "user.created", **payload: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "source": "user-service",
        "occurred_at": datetime.now(tz=UTC).isoformat(),
        "subject": "user/42",
        "trace_id": str(uuid.uuid4()),
        "payload": payload or {"tier": "pro", "region": "eu"},
    }


async def runs_of(stack: Stack, name: str) -> list[str]:
    """Workflow ids of the event runs of ``name`` (from visibility)."""
    return [
        wf.id
        async for wf in stack.client.list_workflows(
            f"WorkflowId STARTS_WITH 'activity-run-{name}-event-'"
        )
    ]


def listen(stack: Stack, name: str, event_type: str = "user.created", **filters: Any) -> None:
    stack.define(
        name,
        trigger_config={"trigger_type": "event", "event_type": event_type, "filters": filters},
    )


async def test_runbook_snippet_starts_one_run_and_a_mismatch_none(
    stack: Stack, nats_server: NatsServer, start_router: RouterFactory
) -> None:
    define_event_type(stack, "user.created")
    name = f"on-pro-{uuid.uuid4().hex[:6]}"
    listen(stack, name, tier="pro")
    other = f"on-free-{uuid.uuid4().hex[:6]}"
    listen(stack, other, tier="free")
    router, _, _ = await start_router()

    # The old runbook's snippet, as written (only the server address differs).
    import nats

    async def publish() -> str:
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        event = {
            "event_id": str(uuid.uuid4()),
            "type": "user.created",
            "source": "user-service",
            "occurred_at": datetime.now(tz=UTC).isoformat(),
            "subject": "user/42",
            "trace_id": str(uuid.uuid4()),
            "payload": {"tier": "pro", "region": "eu"},
        }
        await js.publish("activity.user.created", json.dumps(event).encode())
        await nc.drain()
        return str(event["event_id"])

    event_id = await publish()

    async def one_run() -> list[str]:
        ids = await runs_of(stack, name)
        assert len(ids) == 1, ids
        return ids

    ids = await assert_eventually(one_run)
    assert ids == [f"activity-run-{name}-event-{event_id}"]
    result: RunResult = await stack.client.get_workflow_handle(
        ids[0], result_type=RunResult
    ).result()
    assert result.trigger == "event"
    assert result.outcome.value == "ran"
    note = Path(result.report_path or "").read_text()
    assert event_id in note and "user-service" in note
    await asyncio.sleep(1.0)
    assert await runs_of(stack, other) == []
    assert await runs_of(stack, name) == ids
    assert router.counts["started"] == 1


async def test_filters_match_exactly(stack: Stack, nc: NATS, start_router: RouterFactory) -> None:
    define_event_type(stack, "order.paid")
    name = f"big-orders-{uuid.uuid4().hex[:6]}"
    listen(stack, name, "order.paid", currency="EUR", express=True)
    router, _, _ = await start_router()
    js = nc.jetstream()
    cases = [
        ({"currency": "EUR", "express": True}, True),
        ({"currency": "EUR", "express": True, "extra": 1}, True),
        ({"currency": "EUR", "express": 1}, False),  # 1 is not true
        ({"currency": "eur", "express": True}, False),
        ({"currency": "EUR"}, False),
        ({}, False),
    ]
    for payload, _ in cases:
        await js.publish(
            "activity.order.paid",
            json.dumps(
                envelope("order.paid", **payload)
                if payload
                else {**envelope("order.paid"), "payload": {}}
            ).encode(),
        )

    async def handled() -> None:
        assert router.counts["received"] == len(cases), router.counts

    await assert_eventually(handled)
    assert router.counts["started"] == sum(1 for _, hit in cases if hit)
    assert router.counts["no_match"] == sum(1 for _, hit in cases if not hit)
    assert len(await runs_of(stack, name)) == 2


async def test_same_event_three_times_and_a_router_dying_before_ack_start_one_run(
    stack: Stack, nc: NATS, start_router: RouterFactory
) -> None:
    define_event_type(stack, "user.created")
    name = f"dedup-{uuid.uuid4().hex[:6]}"
    listen(stack, name)
    died: list[str] = []

    async def die_before_ack(msg: Msg, result: RouteResult) -> None:
        # A router killed right after its start and before its ack: nothing is acked.
        died.append(result.action)
        raise asyncio.CancelledError

    _, first, stop_first = await start_router(before_ack=die_before_ack, ack_wait=2.0)
    js = nc.jetstream()
    event = envelope()
    body = json.dumps(event).encode()
    await js.publish("activity.user.created", body)

    async def started_then_died() -> None:
        assert died == ["started"]

    await assert_eventually(started_then_died)
    stop_first.set()
    first.cancel()
    # The same event published twice more, one with a new stream message (no msg id).
    await js.publish("activity.user.created", body)
    await js.publish("activity.user.created", body, headers={"Nats-Msg-Id": event["event_id"]})
    second, _, _ = await start_router(ack_wait=2.0)

    async def all_acked() -> None:
        lag = await consumer_lag(js)
        assert lag.pending == 0 and lag.ack_pending == 0, lag
        assert second.counts["received"] >= 3, second.counts

    await assert_eventually(all_acked, within=30)
    assert await runs_of(stack, name) == [f"activity-run-{name}-event-{event['event_id']}"]
    assert second.counts["started"] == 0
    assert second.counts["duplicate"] >= 3


async def test_two_replicas_share_the_stream_and_one_carries_on_alone(
    stack: Stack, nc: NATS, start_router: RouterFactory
) -> None:
    define_event_type(stack, "user.created")
    name = f"replicas-{uuid.uuid4().hex[:6]}"
    listen(stack, name)
    a, task_a, stop_a = await start_router(settings={"router_batch": 5}, ack_wait=3.0)
    b, _, _ = await start_router(settings={"router_batch": 5}, ack_wait=3.0)
    js = nc.jetstream()
    events = [envelope() for _ in range(60)]
    for e in events[:30]:
        await js.publish("activity.user.created", json.dumps(e).encode())

    async def both_worked() -> None:
        assert a.counts["started"] + b.counts["started"] >= 20, (a.counts, b.counts)

    await assert_eventually(both_worked, within=30)
    stop_a.set()
    task_a.cancel()
    for e in events[30:]:
        await js.publish("activity.user.created", json.dumps(e).encode())

    async def all_runs() -> None:
        ids = await runs_of(stack, name)
        assert len(ids) == len(events), len(ids)

    await assert_eventually(all_runs, within=60, interval=0.5)
    ids = sorted(await runs_of(stack, name))
    assert ids == sorted(f"activity-run-{name}-event-{e['event_id']}" for e in events)
    assert len(set(ids)) == len(ids)  # one run per event, none twice
    assert a.counts["started"] > 0 and b.counts["started"] > 0
    # Starts that the killed replica made but never acked come back to the other one
    # as duplicates: no run is started twice.
    assert a.counts["started"] + b.counts["started"] <= len(events)
    info = await js.consumer_info(STREAM, DURABLE)
    assert info.num_pending == 0


async def test_events_that_match_no_definition_are_counted_per_type(
    stack: Stack, nc: NATS, start_router: RouterFactory
) -> None:
    """An event no definition takes is recorded (not only logged): ``events lag`` and
    ``GET /events/router`` count them per type, whether no definition has the type or
    their filters did not match; the records themselves start nothing."""
    tag = uuid.uuid4().hex[:6]
    filtered, orphan = f"invoice.sent-{tag}", f"invoice.void-{tag}"
    define_event_type(stack, filtered)
    define_event_type(stack, orphan)
    name = f"big-invoices-{tag}"
    listen(stack, name, filtered, currency="EUR")
    router, _, _ = await start_router()
    js = nc.jetstream()
    events = [
        (filtered, {"currency": "USD"}),
        (filtered, {"currency": "EUR"}),
        (filtered, {"currency": "GBP"}),
        (orphan, {"currency": "EUR"}),
    ]
    for kind, payload in events:
        await js.publish(f"activity.{kind}", json.dumps(envelope(kind, **payload)).encode())

    async def counted() -> None:
        lag = await consumer_lag(js)
        assert lag.unmatched.get(filtered) == 2, lag.unmatched
        assert lag.unmatched.get(orphan) == 1, lag.unmatched

    await assert_eventually(counted, within=20)
    await asyncio.sleep(1.0)  # the router has seen its own records by now: they start nothing
    assert router.counts["started"] == 1 and router.counts["no_match"] == 3, router.counts
    assert len(await runs_of(stack, name)) == 1
