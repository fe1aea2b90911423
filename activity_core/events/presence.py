"""A router's presence: a key in a JetStream key-value bucket, refreshed while its pull
loop runs and expiring soon after it stops. Counting the keys says how many routers are
alive, where the consumer's count of waiting pull requests flickers between fetches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from activity_core.domain.events import PRESENCE_BEAT_S, PRESENCE_BUCKET, PRESENCE_TTL_S

log = logging.getLogger(__name__)


def router_key() -> str:
    """``<host>-<pid>-<6 hex>``, in the characters a key may hold."""
    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:60]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


async def presence_bucket(js: JetStreamContext, replicas: int = 1) -> KeyValue:
    """The presence bucket, created when missing."""
    try:
        return await js.key_value(PRESENCE_BUCKET)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(bucket=PRESENCE_BUCKET, ttl=PRESENCE_TTL_S, history=1, replicas=replicas)
        )


async def keep_presence(
    js: JetStreamContext,
    key: str,
    last_fetch: Callable[[], float | None],
    replicas: int = 1,
) -> None:
    """Refresh ``key`` every few seconds while the pull loop fetched recently (until
    cancelled); delete it on the way out. Never raises but for cancellation."""
    kv: KeyValue | None = None
    try:
        while True:
            fetched = last_fetch()
            alive = fetched is not None and time.monotonic() - fetched < PRESENCE_TTL_S
            try:
                if kv is None:
                    kv = await presence_bucket(js, replicas)
                if alive:
                    body = {"host": socket.gethostname(), "pid": os.getpid(), "at": time.time()}
                    await kv.put(key, json.dumps(body).encode())
            except Exception as exc:  # presence is a signal; routing goes on without it
                log.info("router presence not kept", extra={"error": type(exc).__name__})
            await asyncio.sleep(PRESENCE_BEAT_S)
    finally:
        if kv is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(kv.delete(key))
