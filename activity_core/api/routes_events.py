"""Events: publish one (``POST /events/``), see the router consumer (``GET /events/router``)."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import nats.errors
from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError, field_validator

from activities.event_lag import router_health
from activity_core.api.auth import can_read, can_write
from activity_core.api.context import ApiContext, ctx
from activity_core.domain.definition import EVENT_TYPE_PATTERN
from activity_core.domain.events import EVENT_ID_PATTERN, event_subject, valid_trace_id
from activity_core.events import connect_nats, ensure_stream, publish_event
from activity_core.events.jetstream import new_envelope

router = APIRouter(tags=["events"])
Reader = Annotated[str, Depends(can_read)]
Writer = Annotated[str, Depends(can_write)]
Context = Annotated[ApiContext, Depends(ctx)]


class EventIn(BaseModel):
    """An event to publish; ids and time are filled in when not given."""

    type: str = Field(pattern=EVENT_TYPE_PATTERN, max_length=200, examples=["user.created"])
    payload: dict[str, Any] = Field(default_factory=dict, examples=[{"tier": "pro"}])
    event_id: str | None = Field(default=None, pattern=EVENT_ID_PATTERN)
    """Reuse an id to publish the same event again (it starts nothing new)."""
    source: str = Field(default="activity-core-api", min_length=1, max_length=200)
    subject: str = Field(default="", max_length=500)
    trace_id: str | None = Field(default=None, min_length=1, max_length=128)
    """A W3C trace id (32 hex digits) to join the publisher's trace (default: a new one)."""

    @field_validator("trace_id")
    @classmethod
    def _w3c(cls, value: str | None) -> str | None:
        return None if value is None else valid_trace_id(value)


class EventOut(BaseModel):
    """Where the event was stored."""

    event_id: str
    subject: str
    stream_sequence: int
    duplicate: bool
    """The same event id was stored within the last two minutes: kept once."""


@router.post("/events/", status_code=status.HTTP_202_ACCEPTED, response_model=EventOut)
async def publish(body: EventIn, _: Writer, context: Context) -> EventOut:
    """Publish to ``activity.<type>`` on JetStream; the router starts the matching runs."""
    try:
        envelope = new_envelope(
            body.type,
            body.payload,
            event_id=body.event_id,
            source=body.source,
            subject=body.subject,
            trace_id=body.trace_id,
        )
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {"type": err["type"], "loc": ("body", *err["loc"]), "msg": err["msg"]}
                for err in exc.errors(include_input=False, include_url=False)
            ]
        ) from None
    try:
        nc = await connect_nats(context.settings, name="activity-core-api")
    except (nats.errors.Error, OSError) as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"NATS unreachable ({type(exc).__name__}); nothing was published, try again",
        ) from None
    try:
        js = nc.jetstream()
        await ensure_stream(js, context.settings.stream_replicas)
        stored = await publish_event(js, envelope)
    except (nats.errors.Error, OSError) as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"JetStream did not confirm the event ({type(exc).__name__}); try again "
            "with the same event_id",
        ) from None
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    return EventOut(
        event_id=envelope.event_id,
        subject=event_subject(envelope.type),
        stream_sequence=stored.sequence,
        duplicate=stored.duplicate,
    )


@router.get("/events/router")
async def router_state(_: Reader, context: Context) -> dict[str, Any]:
    """The router's consumer: pending and unacked events, replicas polling, oldest age."""
    return await router_health(context.settings)
