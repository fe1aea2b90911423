"""The event router's consumer as seen from outside: pending and unacked events, replicas
polling, the oldest unhandled event. Read by ``actcore status``, the API and the watchdog
(which alerts on it)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError

from activity_core.domain.events import DURABLE, PRESENCE_BUCKET, STREAM, UNMATCHED_PREFIX
from activity_core.settings import Settings

log = logging.getLogger(__name__)


async def log_nats_error(exc: Exception) -> None:
    """One line, no traceback, no URL credentials: the NATS client reports every failed try."""
    log.warning("NATS connection problem", extra={"error": type(exc).__name__})


@dataclass
class ConsumerLag:
    """How far behind the router is."""

    pending: int
    """Events not yet delivered to any replica."""
    ack_pending: int
    """Events delivered and not yet acked (being started, or waiting for a redelivery)."""
    redelivered: int
    """Events delivered more than once and still unacked."""
    waiting: int
    """Pull requests waiting now (flickers between a router's fetches)."""
    oldest_unacked_seconds: float | None
    """Age of the oldest event not yet handled, when there is one."""
    routers: int = 0
    """Routers alive: their presence keys (a router keeps one while its pull loop runs);
    routers too old to keep one count as 1 while a pull request waits."""
    unmatched: dict[str, int] = field(default_factory=dict)
    """Events that matched no definition, per type, over the stream's retention."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def consumer_lag(js: JetStreamContext) -> ConsumerLag:
    """The router consumer's lag.

    Raises:
        nats.js.errors.NotFoundError: No router has created its consumer yet.
    """
    info = await js.consumer_info(STREAM, DURABLE)
    oldest: float | None = None
    if info.num_ack_pending or info.num_pending:
        # The first message after the ack floor is the oldest one not yet handled.
        floor_seq = (info.ack_floor.stream_seq if info.ack_floor is not None else 0) + 1
        try:
            raw = await js.get_msg(STREAM, floor_seq, next=True)
            if raw.time is not None:
                oldest = max(0.0, (datetime.now(UTC) - raw.time).total_seconds())
        except NotFoundError:
            oldest = None
    return ConsumerLag(
        pending=int(info.num_pending or 0),
        ack_pending=int(info.num_ack_pending or 0),
        redelivered=int(info.num_redelivered or 0),
        waiting=int(info.num_waiting or 0),
        oldest_unacked_seconds=oldest,
        unmatched=await unmatched_counts(js),
        routers=await live_routers(js, int(info.num_waiting or 0)),
    )


async def live_routers(js: JetStreamContext, waiting: int) -> int:
    """How many routers keep their presence key now (without the bucket, which only
    routers of this version create: 1 while a pull request waits, else 0).

    Read from the bucket's stream, a key per subject, without a watcher: ``KeyValue.keys()``
    creates a consumer on every call (they linger for minutes, and the stream refuses new
    ones past its limit) and can end its listing before the consumer's first message
    arrives, which made one router read as none now and then.
    """
    try:
        kv = await js.key_value(PRESENCE_BUCKET)
    except BucketNotFoundError:
        return 1 if waiting else 0
    prefix = f"$KV.{PRESENCE_BUCKET}."
    info = await js.stream_info(f"KV_{PRESENCE_BUCKET}", subjects_filter=f"{prefix}>")
    alive = 0
    for subject in info.state.subjects or {}:
        try:
            await kv.get(subject.removeprefix(prefix), validate_keys=False)
        except KeyNotFoundError:  # deleted by a clean stop, or expired since
            continue
        alive += 1
    return alive


async def unmatched_counts(js: JetStreamContext) -> dict[str, int]:
    """Events that matched no definition, per type (what the router recorded at
    ``activity.unmatched.<type>``, kept as long as the stream keeps events)."""
    info = await js.stream_info(STREAM, subjects_filter=f"{UNMATCHED_PREFIX}>")
    subjects = info.state.subjects or {}
    return {
        subject.removeprefix(UNMATCHED_PREFIX): int(count)
        for subject, count in sorted(subjects.items())
    }


async def router_health(settings: Settings, connect_seconds: float = 3.0) -> dict[str, Any]:
    """The router's consumer as ``actcore status`` and ``GET /status`` show it; never raises.

    ``state`` is ``ok`` (a router is polling), ``no_router`` (none polls, or none ever
    created the consumer) or ``unreachable`` (NATS did not answer).
    """
    hosts = [u.split("@")[-1] for u in settings.nats_servers()]
    out: dict[str, Any] = {"nats": hosts}
    try:
        nc = await nats.connect(
            servers=settings.nats_servers(),
            name="activity-core-status",
            connect_timeout=connect_seconds,
            max_reconnect_attempts=1,
            allow_reconnect=False,
            error_cb=log_nats_error,
        )
    except Exception as exc:
        out.update(state="unreachable", error=type(exc).__name__)
        return out
    try:
        lag = await consumer_lag(nc.jetstream())
        out.update(lag.as_dict())
        out["state"] = "ok" if lag.routers else "no_router"
    except NotFoundError:
        out["state"] = "no_router"
    except Exception as exc:
        out.update(state="unreachable", error=type(exc).__name__)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    return out
