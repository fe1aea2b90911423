"""Repair after an outage (write token): backfill a definition's fires that need it,
approve a stored plan, read plans, recover a window's deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, field_validator

from activity_core.api.auth import can_read, can_write
from activity_core.api.context import ApiContext, ctx
from activity_core.domain.backfill import BackfillPlan, Need, parse_only
from activity_core.services.backfill import (
    BackfillError,
    PlanNotFound,
    approve,
    plan_backfill,
    start_plan,
    start_recover,
    store_plan,
)
from activity_core.store.backfills import Backfills

router = APIRouter(tags=["repair"])
Reader = Annotated[str, Depends(can_read)]
Writer = Annotated[str, Depends(can_write)]
Context = Annotated[ApiContext, Depends(ctx)]
PlanId = Annotated[str, PathParam(min_length=1, max_length=36, pattern=r"^[0-9a-f]+$")]


class BackfillIn(BaseModel):
    """A backfill of one definition's fires between ``since`` and ``until`` (default now)."""

    model_config = {"extra": "forbid"}

    since: datetime
    until: datetime | None = None
    only: list[str] = Field(default_factory=lambda: ["missing", "failed"])
    every: bool = False
    force: bool = False
    dry_run: bool = False
    plan_only: bool = False

    @field_validator("only")
    @classmethod
    def _only(cls, value: list[str]) -> list[str]:
        return [n.value for n in parse_only(value)]  # ValueError -> 422 naming the field


class RecoverIn(BaseModel):
    """Wake the dead and waiting deliveries started between ``since`` and ``until``."""

    model_config = {"extra": "forbid"}

    since: datetime
    until: datetime | None = None
    sink: str | None = Field(default=None, max_length=63)
    settle_seconds: float = Field(default=60.0, ge=0, le=3600)
    dry_run: bool = False


def _unprocessable(exc: BackfillError) -> HTTPException:
    text = str(exc)
    field = text.split(":", 1)[0] if ":" in text else "since"
    loc = ["path", "key"] if field == "name" else ["body", field]
    return HTTPException(422, detail=[{"loc": loc, "msg": text, "type": "value_error"}])


@router.post("/activity-definitions/{key}/backfill", response_model=BackfillPlan)
async def backfill(key: str, body: BackfillIn, by: Writer, context: Context) -> BackfillPlan:
    """Plan the fires of the range from the watchdog's verdicts; unless ``dry_run`` or
    ``plan_only``, store the plan and start it paced (``ACTCORE_BACKFILL_RATE``). 404 for
    an unknown definition, 422 naming the field for a bad range."""
    if body.dry_run and body.plan_only:
        raise _unprocessable(BackfillError("dry_run: dry_run and plan_only: choose one"))
    try:
        plan = await plan_backfill(
            await context.temporal(),
            context.catalog,
            names=[key],
            since=body.since,
            until=body.until,
            only=[Need(n) for n in body.only],
            every=body.every,
            force=body.force,
            who=by,
            dry_run=body.dry_run,
        )
        if body.dry_run:
            return plan
        if body.plan_only:
            context.need_store()  # 503 when there is no database to keep it in
            await store_plan(context.catalog, plan)
            return plan
        plan = plan.model_copy(
            update={"state": "started", "started_by": by, "started_at": plan.created_at}
        )
        await start_plan(await context.temporal(), context.settings, plan)
        if context.store is not None:
            await store_plan(context.catalog, plan)
    except BackfillError as exc:
        raise _unprocessable(exc) from None
    return plan


@router.post("/backfills/{plan_id}/approve", response_model=BackfillPlan)
async def approve_plan(plan_id: PlanId, by: Writer, context: Context) -> BackfillPlan:
    """Start a stored plan (409 when it was already started, 404 when there is none)."""
    context.need_store()  # 503 without the database plans are kept in
    try:
        return await approve(
            await context.temporal(), context.settings, context.catalog, plan_id, by
        )
    except PlanNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except BackfillError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None


@router.get("/backfills/{plan_id}", response_model=BackfillPlan)
async def get_plan(plan_id: PlanId, _: Reader, context: Context) -> BackfillPlan:
    """One stored plan."""
    found = await Backfills(context.need_store()).get(plan_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no backfill plan {plan_id!r}")
    return found


@router.post("/deliveries/recover", status_code=status.HTTP_202_ACCEPTED)
async def recover(body: RecoverIn, _: Writer, context: Context) -> dict[str, Any]:
    """Wake the window's dead and waiting deliveries, paced, oldest first; one summary
    note once they settle. ``dry_run`` lists them."""
    try:
        inp, handle = await start_recover(
            await context.temporal(),
            context.settings,
            since=body.since,
            until=body.until,
            sink=body.sink,
            settle_seconds=body.settle_seconds,
            dry_run=body.dry_run,
        )
    except BackfillError as exc:
        raise _unprocessable(exc) from None
    return {**inp.model_dump(mode="json"), "workflow_id": handle.id if handle else None}
