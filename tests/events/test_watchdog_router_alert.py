"""The watchdog's pass pages when no router polls (real NATS, real dev server) and sends a
recovery once one does."""

from __future__ import annotations

import uuid

from activities.watchdog_judge import judge
from activity_core.domain import WatchdogState
from tests.events.conftest import NatsServer, RouterFactory, define_event_type
from tests.events.test_router import listen
from tests.helpers import Stack


async def test_pass_pages_without_a_router_and_recovers_with_one(
    stack: Stack, nats_server: NatsServer, start_router: RouterFactory
) -> None:
    define_event_type(stack, "user.created")
    listen(stack, f"alerted-{uuid.uuid4().hex[:6]}")
    settings = stack.settings.model_copy(update={"nats_port": nats_server.port})

    first = await judge(
        stack.client, settings, names=[], lookback_seconds=3600, state=WatchdogState()
    )
    raised = [a for a in first.advance.raised if a.kind == "event_router"]
    assert len(raised) == 1, first.advance.raised
    assert "no event router polls" in raised[0].detail

    # The same problem on the next pass: no second page.
    second = await judge(
        stack.client, settings, names=[], lookback_seconds=3600, state=first.advance.state
    )
    assert [a for a in second.advance.raised if a.kind == "event_router"] == []

    await start_router()
    third = await judge(
        stack.client, settings, names=[], lookback_seconds=3600, state=second.advance.state
    )
    assert [a.resolves for a in third.advance.recovered] == [raised[0].alert_id]
    assert third.advance.state.router_alert is None


async def test_no_event_definitions_no_router_alert(stack: Stack) -> None:
    stack.define(f"plain-{uuid.uuid4().hex[:6]}")
    settings = stack.settings.model_copy(update={"nats_port": 1})  # nothing listens there
    plan = await judge(
        stack.client, settings, names=[], lookback_seconds=3600, state=WatchdogState()
    )
    assert [a for a in plan.advance.raised if a.kind == "event_router"] == []
