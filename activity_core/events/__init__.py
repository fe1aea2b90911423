"""The event router (floor 5): NATS JetStream events into ActivityRunWorkflow starts.

See ``docs/events.md``. :mod:`.jetstream` sets up the stream and the durable consumer and
publishes; :mod:`.router` consumes, validates, matches and starts runs; :mod:`.sources`
keeps the registry's definitions and event types at hand.
"""

from activities.event_lag import ConsumerLag, consumer_lag, router_health
from activity_core.events.jetstream import (
    connect_nats,
    ensure_consumer,
    ensure_stream,
    publish_event,
)
from activity_core.events.router import Router, RouteResult
from activity_core.events.serve import serve_router

__all__ = [
    "ConsumerLag",
    "RouteResult",
    "Router",
    "connect_nats",
    "consumer_lag",
    "ensure_consumer",
    "ensure_stream",
    "publish_event",
    "router_health",
    "serve_router",
]
