"""``/mutes``: hold pages back for a while (write token), list and end mutes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, field_validator

from activity_core.api.auth import can_read, can_write
from activity_core.api.context import ApiContext, ctx
from activity_core.domain.mute import ALL, Mute, parse_duration
from activity_core.services.mutes import MuteError, current_mutes, mute, unmute

router = APIRouter(tags=["mutes"])
Reader = Annotated[str, Depends(can_read)]
Writer = Annotated[str, Depends(can_write)]
Context = Annotated[ApiContext, Depends(ctx)]


class MuteIn(BaseModel):
    """A mute to set: ``target`` (a definition name, or ``*``: everything), how long
    (``for``, e.g. ``2h``) or until when, and why."""

    model_config = {"extra": "forbid", "populate_by_name": True}

    target: str = Field(min_length=1, max_length=63, examples=["daily-statehub-wsjf-triage"])
    duration: str | None = Field(default=None, alias="for", examples=["2h"])
    until: datetime | None = None
    reason: str = Field(min_length=1, max_length=500)

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)  # ValueError -> 422 naming the field
        return value


@router.get("/mutes", response_model=list[Mute])
async def list_mutes(_: Reader, context: Context) -> list[Mute]:
    """Mutes in force or still to come, soonest end first."""
    return await current_mutes(context.need_store())


@router.post("/mutes", response_model=Mute, status_code=status.HTTP_201_CREATED)
async def create_mute(body: MuteIn, by: Writer, context: Context) -> Mute:
    """Hold back pages and recovery notices of ``target`` (the watchdog keeps judging
    and sends one summary when the mute ends). 404 for an unknown definition."""
    try:
        return await mute(
            context.need_store(),
            context.catalog,
            body.target,
            reason=body.reason,
            duration=parse_duration(body.duration) if body.duration else None,
            until=body.until,
            by=by,
        )
    except MuteError as exc:
        field = str(exc).split(":", 1)[0] if ":" in str(exc) else "for"
        raise HTTPException(
            422,
            detail=[{"loc": ["body", field], "msg": str(exc), "type": "value_error"}],
        ) from None


@router.delete("/mutes/{key}")
async def end_mute(
    _: Writer,
    context: Context,
    key: Annotated[str, PathParam(max_length=63, description="a mute id, a name, or *")],
) -> dict[str, Any]:
    """End a mute now: by its id, or every mute of a definition name (``*``: of
    everything). 404 when none is in force."""
    store = context.need_store()
    ended = await unmute(store, mute_id=key) if _is_id(key) else []
    if not ended:
        ended = await unmute(store, target=key if key != "all" else ALL)
    if not ended:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no mute of {key!r} is in force")
    return {"ended": [m.model_dump(mode="json") for m in ended]}


def _is_id(key: str) -> bool:
    return len(key) == 36 and key.count("-") == 4
