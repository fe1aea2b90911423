"""Bad events: each is dead-lettered with its reason and the error, none blocks the rest,
and no value from a payload ends up in an error text."""

from __future__ import annotations

import json
import uuid
from typing import Any

from nats.aio.client import Client as NATS

from activity_core.domain.events import DLQ_PREFIX, STREAM
from activity_core.events import consumer_lag
from tests.events.conftest import RouterFactory, define_event_type
from tests.events.test_router import envelope, listen, runs_of
from tests.helpers import Stack, assert_eventually

SECRET = "hunter2-secret-value"


def without(key: str) -> dict[str, Any]:
    e = envelope()
    del e[key]
    return e


def but(**changes: Any) -> dict[str, Any]:
    return {**envelope(), **changes}


def bad_events() -> list[tuple[str, str, bytes]]:
    """(reason, subject, body): more than thirty ways to get an event wrong."""
    out: list[tuple[str, str, bytes]] = []

    def add(reason: str, body: Any, subject: str = "activity.user.created") -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        out.append((reason, subject, raw))

    for key in ("event_id", "type", "source", "occurred_at", "subject", "trace_id", "payload"):
        add("invalid_envelope", without(key))
    add("invalid_envelope", but(event_id=123))
    add("invalid_envelope", but(event_id=""))
    add("invalid_envelope", but(event_id="has space"))
    add("invalid_envelope", but(event_id="x" * 300))
    add("invalid_envelope", but(event_id=SECRET + "/../x"))
    add("invalid_envelope", but(occurred_at="yesterday"))
    add("invalid_envelope", but(occurred_at="2026-11-23T10:00:00"))  # no offset
    add("invalid_envelope", but(payload=[1, 2]))
    add("invalid_envelope", but(payload=SECRET))
    add("invalid_envelope", but(source=""))
    add("invalid_envelope", but(source="a\nb"))
    add("invalid_envelope", but(trace_id=None))
    add("invalid_envelope", but(trace_id="nothex"))
    add("invalid_envelope", but(trace_id="0" * 32))
    add("invalid_envelope", but(trace_id="4bf92f3577b34da6a3ce929d0e0e473z"))
    add("invalid_envelope", but(subject=["user/42"]))
    add("invalid_envelope", but(type="User Created"))
    add("invalid_envelope", [envelope()])
    add("invalid_envelope", "just a string")
    add("invalid_envelope", None)
    add("not_json", b"{not json")
    add("not_json", b"")
    add("not_json", b"\xff\xfe\x00garbage")
    add("not_json", b'{"event_id": "a", ' + SECRET.encode())
    add("too_large", {**envelope(), "payload": {"blob": "x" * 300_000}})
    add("subject_mismatch", envelope("user.deleted"), subject="activity.user.created")
    add("subject_mismatch", envelope(), subject="activity.other")
    add("unknown_type", envelope("user.vanished"), subject="activity.user.vanished")
    add("schema", {**envelope(), "payload": {"tier": 5, "token": SECRET}})
    add("schema", {**envelope(), "payload": {"region": "eu"}})
    return out


async def test_malformed_envelopes_are_dead_lettered_and_never_block(
    stack: Stack, nc: NATS, start_router: RouterFactory
) -> None:
    define_event_type(
        stack,
        "user.created",
        schema={
            "type": "object",
            "required": ["tier"],
            "properties": {"tier": {"type": "string"}},
        },
    )
    name = f"on-user-{uuid.uuid4().hex[:6]}"
    listen(stack, name)
    router, _, _ = await start_router()
    js = nc.jetstream()
    bad = bad_events()
    assert len(bad) >= 30
    good = envelope()
    # Bad events on both sides of a good one: the good one still runs.
    for _reason, subject, body in bad[: len(bad) // 2]:
        await js.publish(subject, body)
    await js.publish("activity.user.created", json.dumps(good).encode())
    for _reason, subject, body in bad[len(bad) // 2 :]:
        await js.publish(subject, body)

    async def drained() -> None:
        lag = await consumer_lag(js)
        assert lag.pending == 0 and lag.ack_pending == 0, lag

    await assert_eventually(drained, within=30)
    assert await runs_of(stack, name) == [f"activity-run-{name}-event-{good['event_id']}"]

    # Every bad event has one dead letter, with its reason, the error and the original.
    sub = await js.pull_subscribe(f"{DLQ_PREFIX}>", stream=STREAM)
    letters = [json.loads(m.data) for m in await sub.fetch(len(bad) + 5, timeout=3)]
    assert len(letters) == len(bad)
    assert sorted(d["reason"] for d in letters) == sorted(r for r, _, _ in bad)
    for d in letters:
        assert d["errors"], d
        assert d["stream_sequence"] and d["original_subject"].startswith("activity.")
        assert SECRET not in json.dumps(d["errors"]), d["errors"]
        if d["reason"] != "too_large":
            assert d["data"] is not None or d["reason"] == "not_json"
    missing = next(d for d in letters if d["reason"] == "invalid_envelope")
    assert ":" in missing["errors"][0]  # names the field
    assert router.counts["dead_letter"] == len(bad)
    assert router.counts["started"] == 1


async def test_a_definition_naming_an_unregistered_type_is_refused_at_load(
    stack: Stack,
) -> None:
    from activity_core.errors import DefinitionsError
    from activity_core.loader import load_definitions

    listen(stack, "orphan", "user.created")
    try:
        load_definitions(stack.definitions_dir)
    except DefinitionsError as exc:
        text = "\n".join(exc.errors)
    else:
        raise AssertionError("an unregistered event type was accepted")
    assert "orphan.yaml: trigger_config.event_type: unknown event type 'user.created'" in text
    assert "event-types/user.created.yaml" in text
