"""Event triggers: the envelope services publish, event types, matching and run ids. Pure.

A service publishes an :class:`EventEnvelope` as JSON to the JetStream subject
``activity.<type>`` on the stream ``ACTIVITY_EVENTS``. The router (``activity_core.events``)
validates it, finds the enabled definitions whose ``trigger_config`` names that event type
and whose ``filters`` all equal the payload's values, and starts one run per match under
:func:`event_run_id`, so that a redelivered event starts nothing new.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from activity_core.domain.definition import EVENT_TYPE_PATTERN, ActivityDefinition, EventTrigger

STREAM = "ACTIVITY_EVENTS"
"""The JetStream stream every event is published to."""
SUBJECT_PREFIX = "activity."
"""Events of type ``T`` are published to ``activity.T``."""
STREAM_SUBJECTS = ("activity.>",)
"""What the stream captures (dead letters included: they are kept with the events)."""
DLQ_PREFIX = "activity.dlq."
"""Dead letters go to ``activity.dlq.<reason>``."""
UNMATCHED_PREFIX = "activity.unmatched."
"""An event that matched no definition is recorded at ``activity.unmatched.<type>``."""
RESERVED_TYPE_PREFIXES = ("dlq.", "unmatched.")
"""Event types may not start with these: their subjects are the router's own records."""
DURABLE = "activity-core-event-router"
PRESENCE_BUCKET = "actcore_routers"
"""JetStream key-value bucket where each running router keeps a key while its pull loop
runs (``GET /events/router`` and ``actcore events lag`` count them)."""
PRESENCE_TTL_S = 15.0
"""A router's key expires this long after its last beat: a stopped router leaves."""
PRESENCE_BEAT_S = 5.0
"""The durable pull consumer all router replicas share."""
ROUTER_ALERT_SUBJECT = "event-router"
"""``activity_id`` and ``activity_name`` of the watchdog's alerts about the router."""

EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
"""UUIDs, ULIDs and similar: it becomes part of a workflow id."""

_TYPE = re.compile(EVENT_TYPE_PATTERN)

# Dead-letter reasons (the last token of the dead-letter subject).
TOO_LARGE = "too_large"
NOT_JSON = "not_json"
INVALID_ENVELOPE = "invalid_envelope"
SUBJECT_MISMATCH = "subject_mismatch"
UNKNOWN_TYPE = "unknown_type"
SCHEMA = "schema"
START_REJECTED = "start_rejected"
DEAD_LETTER_REASONS = (
    TOO_LARGE,
    NOT_JSON,
    INVALID_ENVELOPE,
    SUBJECT_MISMATCH,
    UNKNOWN_TYPE,
    SCHEMA,
    START_REJECTED,
)


class EventEnvelope(BaseModel):
    """What a service publishes; also what a run started by the event receives."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: str = Field(pattern=EVENT_ID_PATTERN)
    """Unique per event; a redelivery or republish with the same id starts nothing new."""
    type: str = Field(pattern=EVENT_TYPE_PATTERN, max_length=200)
    """Event type, e.g. ``user.created``; the subject is ``activity.<type>``."""
    source: str = Field(min_length=1, max_length=200)
    """Who published it, e.g. ``user-service``."""
    occurred_at: AwareDatetime
    """When it happened (with a UTC offset)."""
    subject: str = Field(max_length=500)
    """What it is about, e.g. ``user/42``."""
    trace_id: str = Field(min_length=1, max_length=128)
    """Joins the router's span and the run to the publisher's trace."""
    payload: dict[str, Any]
    """Type-specific body; definition ``filters`` match its top-level keys."""

    @field_validator("type")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        return not_reserved_type(value)

    @field_validator("subject", "source", "trace_id")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("trace_id")
    @classmethod
    def _w3c(cls, value: str) -> str:
        return valid_trace_id(value)


def not_reserved_type(value: str) -> str:
    """An event type that is not one of the router's own subjects.

    Raises:
        ValueError: It starts with ``dlq.`` or ``unmatched.`` (its events would be taken
            for dead letters or unmatched records and never routed).
    """
    if value.startswith(RESERVED_TYPE_PREFIXES):
        raise ValueError(
            f"must not start with {' or '.join(RESERVED_TYPE_PREFIXES)}: those subjects "
            "hold the router's dead letters and unmatched events; rename the type"
        )
    return value


def valid_trace_id(value: str) -> str:
    """A W3C trace id: 32 hex digits, not all zero (dashes allowed, as in a UUID).

    Raises:
        ValueError: Anything else (the value is not quoted back: it may be long).
    """
    digits = value.replace("-", "")
    if len(digits) != 32 or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise ValueError("must be a W3C trace id: 32 hex digits (dashes allowed)")
    if int(digits, 16) == 0:
        raise ValueError("must be a W3C trace id: not all zeros")
    return value


class EventType(BaseModel):
    """One file of ``<definitions>/event-types/``: a type events may have."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=EVENT_TYPE_PATTERN, max_length=200)
    """E.g. ``user.created``."""
    description: str = ""
    """What the event means, for people."""
    payload_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    """Optional JSON Schema the payload must satisfy (else: dead letter ``schema``)."""

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        return not_reserved_type(value)


def event_subject(event_type: str) -> str:
    """``activity.<type>``."""
    return f"{SUBJECT_PREFIX}{event_type}"


def dead_letter_subject(reason: str) -> str:
    """``activity.dlq.<reason>``."""
    return f"{DLQ_PREFIX}{reason}"


def unmatched_subject(event_type: str) -> str:
    """``activity.unmatched.<type>``."""
    return f"{UNMATCHED_PREFIX}{event_type}"


def event_run_id(definition: ActivityDefinition, event_id: str) -> str:
    """Workflow id of the run of ``definition`` for one event (deterministic)."""
    return f"activity-run-{definition.name}-event-{event_id}"


def _equal(expected: object, actual: object) -> bool:
    # Exact: 1 does not match true, "1" does not match 1.
    return type(expected) is type(actual) and expected == actual


def matches(definition: ActivityDefinition, envelope: EventEnvelope) -> bool:
    """An enabled event definition of this type whose filters all equal the payload."""
    trig = definition.trigger_config
    if not definition.enabled or not isinstance(trig, EventTrigger):
        return False
    if trig.event_type != envelope.type:
        return False
    payload = envelope.payload
    return all(k in payload and _equal(v, payload[k]) for k, v in trig.filters.items())


def matching(
    definitions: Iterable[ActivityDefinition], envelope: EventEnvelope
) -> list[ActivityDefinition]:
    """Every definition :func:`matches` the envelope, by name."""
    return sorted((d for d in definitions if matches(d, envelope)), key=lambda d: d.name)


def envelope_errors(exc: ValidationError) -> list[str]:
    """``field: what is wrong`` lines, never the values (payloads may hold secrets)."""
    out: list[str] = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        out.append(f"{where}: {err['msg']}")
    return out


def unknown_event_types(
    definitions: Sequence[ActivityDefinition], known: Iterable[str]
) -> list[tuple[ActivityDefinition, str]]:
    """Definitions whose event type is not registered, with the fix."""
    names = set(known)
    out = []
    for d in definitions:
        trig = d.trigger_config
        if isinstance(trig, EventTrigger) and trig.event_type not in names:
            listed = f"registered: {', '.join(sorted(names))}" if names else "none registered"
            out.append(
                (
                    d,
                    f"unknown event type {trig.event_type!r} ({listed}); add "
                    f"event-types/{trig.event_type}.yaml to the definitions directory",
                )
            )
    return out


def valid_event_type(name: str) -> bool:
    """Whether ``name`` has the form of an event type."""
    return bool(_TYPE.match(name)) and len(name) <= 200


def router_problem(
    health: dict[str, Any] | None, max_pending: int, max_age_seconds: float
) -> str | None:
    """What is wrong with the router's consumer, in words (None: nothing, or no definition
    listens to events).

    Args:
        health: :func:`activities.event_lag.router_health` (None: no event definitions).
        max_pending: Events waiting for a router above which it is a problem.
        max_age_seconds: Age of the oldest unhandled event above which it is a problem.
    """
    if health is None:
        return None
    state = health.get("state")
    where = ", ".join(health.get("nats") or [])
    if state == "unreachable":
        return f"NATS at {where} does not answer ({health.get('error')}): events are not routed"
    if state == "no_router":
        return f"no event router polls the consumer on {where}: events wait unrouted"
    pending = int(health.get("pending") or 0)
    oldest = health.get("oldest_unacked_seconds")
    if pending >= max_pending:
        return f"{pending} events wait for a router (alert at {max_pending})"
    if oldest is not None and oldest >= max_age_seconds:
        return (
            f"the oldest unhandled event is {oldest:.0f} s old (alert at {max_age_seconds:.0f} s)"
        )
    return None
