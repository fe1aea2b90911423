"""Routers alive are counted from their presence keys: the same count on every call
while they run (the waiting-pull count flickers between fetches), none once stopped."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

from nats.aio.client import Client as NATS

from activities.event_lag import live_routers, router_health
from activity_core.domain.events import PRESENCE_BUCKET
from activity_core.events.presence import keep_presence, presence_bucket
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


async def test_a_thousand_status_reads_count_one_router_each_and_leave_no_consumers(
    nc: NATS,
) -> None:
    """Status is read by the API, the board and every watchdog pass: each read must see a
    router whose key is being refreshed, see none for a cleanly stopped one, and leave
    nothing behind on the server (the stream takes at most so many consumers)."""
    js = nc.jetstream()
    kv = await presence_bucket(js)
    await kv.put("stopped-router", b"{}")
    await kv.delete("stopped-router")  # what a clean stop leaves: a delete marker
    fetched = time.monotonic()
    beat = asyncio.create_task(keep_presence(js, "live-router", lambda: fetched))

    async def refresh() -> None:  # beats far closer together than a router's
        while True:
            await kv.put("live-router", b"{}")
            await asyncio.sleep(0.01)

    async def kept() -> None:
        assert await live_routers(js, waiting=0) == 1

    await assert_eventually(kept, within=10)  # the beat's first put
    hammer = asyncio.create_task(refresh())
    try:
        counts = Counter([await live_routers(js, waiting=0) for _ in range(1100)])
    finally:
        hammer.cancel()
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(hammer, beat)
    assert counts == {1: 1100}, counts
    info = await js.stream_info(f"KV_{PRESENCE_BUCKET}")
    assert info.state.consumer_count == 0
    assert await live_routers(js, waiting=0) == 0  # the beat deleted its key on the way out
