"""``watch.expect_within_seconds``: an event definition with no matching event in that
time pages once, and the first event after it closes the alert (real NATS, router and
dev server; the watchdog's memory of when it began expecting is set back in time)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from nats.aio.client import Client as NATS

from activities.watchdog_judge import judge
from activity_core.domain import WatchdogState
from activity_core.loader import load_definitions
from tests.events.conftest import NatsServer, RouterFactory, define_event_type
from tests.events.test_router import runs_of
from tests.helpers import Stack, assert_eventually


async def test_no_matching_event_in_time_pages_once_and_an_event_closes_it(
    stack: Stack, nats_server: NatsServer, nc: NATS, start_router: RouterFactory
) -> None:
    define_event_type(stack, "user.created")
    name = f"welcome-pro-{uuid.uuid4().hex[:6]}"
    stack.define(
        name,
        trigger_config={
            "trigger_type": "event",
            "event_type": "user.created",
            "filters": {"tier": "pro"},
        },
        watch={"expect_within_seconds": 3600},
    )
    await start_router()
    settings = stack.settings.model_copy(update={"nats_port": nats_server.port})
    definition = load_definitions(stack.definitions_dir).by_name(name)
    began = datetime.now(UTC) - timedelta(hours=2)
    state = WatchdogState(event_watch_since={str(definition.id): began})

    first = await judge(stack.client, settings, names=[], lookback_seconds=3600, state=state)
    (page,) = [a for a in first.advance.raised if a.activity_name == name]
    assert (page.kind, page.severity.value) == ("no_events", "page")
    assert "no user.created with tier=pro since the watchdog began (1 h" in page.fires[0].detail
    again = await judge(
        stack.client, settings, names=[], lookback_seconds=3600, state=first.advance.state
    )
    assert [a for a in again.advance.raised if a.activity_name == name] == []

    # A free-tier user is not what it waits for; a pro one is.
    js = nc.jetstream()
    for tier in ("free", "pro"):
        event = {
            "event_id": str(uuid.uuid4()),
            "type": "user.created",
            "source": "user-service",
            "subject": "user/42",
            "trace_id": uuid.uuid4().hex,
            "occurred_at": datetime.now(UTC).isoformat(),
            "payload": {"tier": tier},
        }
        await js.publish("activity.user.created", json.dumps(event).encode())

    async def ran() -> None:
        assert len(await runs_of(stack, name)) == 1

    await assert_eventually(ran, within=30)
    back = await judge(
        stack.client, settings, names=[], lookback_seconds=3600, state=again.advance.state
    )
    assert [r.resolves for r in back.advance.recovered if r.activity_name == name] == [
        page.alert_id
    ]
    quiet = await judge(
        stack.client, settings, names=[], lookback_seconds=3600, state=back.advance.state
    )
    assert [a for a in quiet.advance.raised if a.activity_name == name] == []
