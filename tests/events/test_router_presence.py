"""Routers alive are counted from their presence keys: the same count on every call
while they run (the waiting-pull count flickers between fetches), none once stopped."""

from __future__ import annotations

import asyncio

from activities.event_lag import router_health
from tests.events.conftest import NatsServer, RouterFactory, define_event_type
from tests.events.test_router import listen
from tests.helpers import Stack, assert_eventually


async def test_the_router_count_holds_steady_and_follows_routers_starting_and_stopping(
    stack: Stack, nats_server: NatsServer, start_router: RouterFactory
) -> None:
    define_event_type(stack, "user.created")
    listen(stack, "presence-demo")
    settings = stack.settings.model_copy(update={"nats_port": nats_server.port})
    _, _, first_stop = await start_router()

    async def one() -> None:
        assert (await router_health(settings))["routers"] == 1

    await assert_eventually(one, within=15)
    counts = []
    for _ in range(8):
        health = await router_health(settings)
        counts.append((health["state"], health["routers"]))
        await asyncio.sleep(0.3)
    assert counts == [("ok", 1)] * 8, counts  # not 1, 2, 1, 0 ...

    await start_router()

    async def two() -> None:
        assert (await router_health(settings))["routers"] == 2

    await assert_eventually(two, within=15)
    first_stop.set()

    async def back_to_one() -> None:
        assert (await router_health(settings))["routers"] == 1

    await assert_eventually(back_to_one, within=20)  # a clean stop removes its key
