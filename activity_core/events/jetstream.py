"""JetStream plumbing: connect, create the stream and the durable consumer when missing,
publish an envelope, read the consumer's lag."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from activities.event_lag import log_nats_error, router_health
from activity_core.catalog import Catalog
from activity_core.domain import EventTrigger
from activity_core.domain.events import (
    DURABLE,
    STREAM,
    STREAM_SUBJECTS,
    EventEnvelope,
    event_subject,
)
from activity_core.settings import Settings

log = logging.getLogger(__name__)

STREAM_MAX_AGE_SECONDS = 14 * 24 * 3600
"""Events (and dead letters) are kept 14 days: long enough to outlast a router outage
over a holiday, short enough to bound the disk."""
DUPLICATE_WINDOW_SECONDS = 120
"""A publish repeated with the same ``event_id`` within this window is stored once."""


async def connect_nats(
    settings: Settings, name: str = "activity-core", *, persistent: bool = False
) -> NATS:
    """Connect to the configured NATS servers.

    Args:
        settings: Where NATS is.
        name: Client name shown in NATS monitoring.
        persistent: Keep trying, also for the first connection (the router); otherwise one
            round over the servers, then ``nats.errors.NoServersError`` (the CLI, the API).
    """
    return await nats.connect(
        servers=settings.nats_servers(),
        name=name,
        max_reconnect_attempts=-1 if persistent else 1,
        reconnect_time_wait=1,
        connect_timeout=3,
        allow_reconnect=persistent,
        error_cb=log_nats_error,
    )


async def ensure_stream(js: JetStreamContext, replicas: int = 1) -> None:
    """Create ``ACTIVITY_EVENTS`` (``activity.>``, file storage, ``replicas`` copies on a
    cluster) when it does not exist; raise its replicas when it has fewer."""
    try:
        info = await js.stream_info(STREAM)
    except NotFoundError:
        info = None
    if info is not None:
        have = info.config.num_replicas or 1
        if have < replicas:
            info.config.num_replicas = replicas
            await js.update_stream(info.config)
            log.info(
                "stream replicas raised", extra={"stream": STREAM, "from": have, "to": replicas}
            )
        return
    await js.add_stream(
        StreamConfig(
            name=STREAM,
            subjects=list(STREAM_SUBJECTS),
            storage=StorageType.FILE,
            max_age=STREAM_MAX_AGE_SECONDS,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas,
        )
    )
    log.info("stream created", extra={"stream": STREAM, "subjects": list(STREAM_SUBJECTS)})


def consumer_config(settings: Settings) -> ConsumerConfig:
    """The router's durable pull consumer: explicit ack, redelivery for ever (the router
    paces it with ``nak(delay)``; bad events are dead-lettered, never retried)."""
    return ConsumerConfig(
        durable_name=DURABLE,
        name=DURABLE,
        description="activity-core event router: events into ActivityRunWorkflow starts",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.router_ack_wait_seconds,
        max_deliver=-1,
        max_ack_pending=settings.router_max_ack_pending,
        filter_subject=STREAM_SUBJECTS[0],
    )


async def ensure_consumer(js: JetStreamContext, settings: Settings) -> None:
    """Create the durable consumer when it does not exist (an existing one is kept)."""
    try:
        await js.consumer_info(STREAM, DURABLE)
        return
    except NotFoundError:
        pass
    await js.add_consumer(STREAM, consumer_config(settings))
    log.info("consumer created", extra={"stream": STREAM, "consumer": DURABLE})


def new_envelope(
    event_type: str,
    payload: dict[str, Any],
    *,
    event_id: str | None = None,
    source: str = "actcore-cli",
    subject: str = "",
    trace_id: str | None = None,
) -> EventEnvelope:
    """An envelope with fresh ids where none are given."""
    return EventEnvelope(
        event_id=event_id or str(uuid.uuid4()),
        type=event_type,
        source=source,
        occurred_at=datetime.now(UTC),
        subject=subject,
        trace_id=trace_id or uuid.uuid4().hex,
        payload=payload,
    )


@dataclass
class Published:
    """Where an event was stored."""

    sequence: int
    """Stream sequence."""
    duplicate: bool
    """The same event id was already stored within the duplicate window (kept once)."""


async def publish_event(js: JetStreamContext, envelope: EventEnvelope) -> Published:
    """Publish to ``activity.<type>`` with the event id as ``Nats-Msg-Id`` (a repeat within
    the duplicate window is stored once)."""
    body = json.dumps(envelope.model_dump(mode="json")).encode()
    ack = await js.publish(
        event_subject(envelope.type),
        body,
        stream=STREAM,
        headers={"Nats-Msg-Id": envelope.event_id},
    )
    return Published(sequence=int(ack.seq), duplicate=bool(ack.duplicate))


def describe_router(health: dict[str, Any]) -> str:
    """One line for people."""
    where = ", ".join(health.get("nats") or [])
    state = health.get("state")
    if state == "unreachable":
        return f"event router: NATS at {where} unreachable ({health.get('error')})"
    if state == "no_router" and "pending" not in health:
        return f"event router: no router has started on {where} (actcore router)"
    oldest = health.get("oldest_unacked_seconds")
    text = (
        f"event router: {health.get('routers', 0)} polling, {health.get('pending', 0)} pending, "
        f"{health.get('ack_pending', 0)} unacked"
        + (f", oldest unhandled {oldest:.0f} s" if oldest is not None else "")
    )
    return text + ("  ** no router is polling **" if state == "no_router" else "")


async def event_router_status(settings: Settings, catalog: Catalog) -> dict[str, Any] | None:
    """:func:`router_health` when some enabled definition in force listens to events;
    None when none does (then no router is needed)."""
    defs = await catalog.all()
    if not any(d.enabled and isinstance(d.trigger_config, EventTrigger) for d in defs):
        return None
    return await router_health(settings)
