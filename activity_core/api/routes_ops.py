"""Runs, deliveries, status, alerts, and the health probes."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status

from activity_core.api.auth import can_read, can_write
from activity_core.api.context import ApiContext, ctx
from activity_core.api.models import Health, RetryAll, RetryOut
from activity_core.domain import DeliveryState, RunRecord
from activity_core.events.jetstream import event_router_status
from activity_core.services.ledger import list_runs
from activity_core.services.runs import ended_delivery, list_deliveries, retry_deliveries
from activity_core.services.status import status_report
from activity_core.store import Ledger, migrate

router = APIRouter()
Reader = Annotated[str, Depends(can_read)]
Writer = Annotated[str, Depends(can_write)]
Context = Annotated[ApiContext, Depends(ctx)]
PROBE_TIMEOUT_S = 2.0


async def _db_ok(context: ApiContext) -> bool:
    if context.store is None:
        return False
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await context.store.ping()
    except Exception:
        return False
    return True


async def _temporal_ok(context: ApiContext) -> bool:
    try:
        client = await context.temporal()
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            return bool(await client.service_client.check_health())
    except Exception:
        return False


@router.get("/health", response_model=Health, tags=["probes"])
async def health(response: Response, context: Context) -> Health:
    """Liveness with parts: 200 when the database and Temporal answer, else 503 naming them."""
    db, temporal = await asyncio.gather(_db_ok(context), _temporal_ok(context))
    if not (db and temporal):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="ok" if db and temporal else "degraded", db=db, temporal=temporal)


@router.get("/ready", tags=["probes"])
async def ready(response: Response, context: Context) -> dict[str, Any]:
    """Readiness: the schema is migrated and Temporal answers (503 and why otherwise)."""
    why: list[str] = []
    if context.store is None:
        why.append("store off")
    else:
        try:
            if not await migrate.is_current(context.store):
                why.append("database schema behind: run `actcore db upgrade`")
        except Exception as exc:
            why.append(f"database unavailable ({type(exc).__name__})")
    if not await _temporal_ok(context):
        why.append("Temporal unreachable")
    if why:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"ready": not why, "problems": why}


@router.get("/healthz", tags=["probes"])
async def healthz(response: Response, context: Context) -> dict[str, object]:
    """Liveness: 200 while the process's event loop turns (503 when it was blocked)."""
    ok, body = context.health.alive()
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return body


@router.get("/readyz", tags=["probes"])
async def readyz(response: Response, context: Context) -> dict[str, object]:
    """Readiness: Temporal answers and the database is reachable and migrated; 503 with
    the failing checks otherwise, and from the moment the process begins to stop."""
    ok, body = await context.health.ready()
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return body


@router.get("/runs/", response_model=list[RunRecord], tags=["runs"])
async def runs(
    _: Reader,
    context: Context,
    activity: str | None = None,
    since: datetime | None = None,
    outcome: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RunRecord]:
    """Runs from the ledger, newest fire first (``since`` bounds ``scheduled_for``)."""
    found = await list_runs(context.need_store(), name=activity, since=since, limit=limit)
    return [r for r in found if outcome is None or r.outcome == outcome]


@router.get("/runs/{run_id}", response_model=RunRecord, tags=["runs"])
async def run(run_id: Annotated[str, Path(min_length=1)], _: Reader, context: Context) -> RunRecord:
    """One run from the ledger."""
    found = await Ledger(context.need_store()).run(run_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no run {run_id!r} in the ledger")
    return found


@router.get("/deliveries/", tags=["deliveries"])
async def deliveries(
    _: Reader,
    context: Context,
    state: DeliveryState | None = None,
    sink: str | None = None,
) -> list[dict[str, Any]]:
    """Delivery workflows from Temporal with their live state, newest first."""
    rows = await list_deliveries(await context.temporal(), state.value if state else None)
    return [r.as_dict() for r in rows if sink is None or r.sink == sink]


@router.post("/deliveries/{delivery_id}/retry", response_model=RetryOut, tags=["deliveries"])
async def retry_one(
    delivery_id: Annotated[str, Path(min_length=1)], _: Writer, context: Context
) -> RetryOut:
    """Send ``retry_now`` to one delivery (404 when it does not exist, 409 when it has
    ended: delivered, or closed otherwise)."""
    rate = context.settings.wake_rate
    client = await context.temporal()
    woken = await retry_deliveries(client, delivery_id=delivery_id, rate=rate)
    if woken == 0:
        ended = await ended_delivery(client, delivery_id)
        if ended is not None:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"delivery {delivery_id!r} has ended ({ended}): nothing to retry",
            )
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no delivery {delivery_id!r}")
    return RetryOut(woken=woken, rate_per_second=rate)


@router.post("/deliveries/retry", response_model=RetryOut, tags=["deliveries"])
async def retry_all(body: RetryAll, _: Writer, context: Context) -> RetryOut:
    """Wake every open delivery in a state (optionally of one sink), oldest first, paced."""
    rate = body.rate_per_second or context.settings.wake_rate
    woken = await retry_deliveries(
        await context.temporal(), status=body.status, sink=body.sink, rate=rate
    )
    return RetryOut(woken=woken, rate_per_second=rate)


@router.get("/status", tags=["status"])
async def status_json(
    _: Reader,
    context: Context,
    name: Annotated[list[str] | None, Query()] = None,
    live: Annotated[bool, Query(description="judge every definition now")] = False,
) -> dict[str, Any]:
    """What ``actcore status --json`` prints: the last watchdog pass's verdicts and the
    ledger (``judged: "last pass"``); ``live=true`` or a ``name`` judges now."""
    ledger = Ledger(context.store) if context.store is not None else None
    report = await status_report(
        await context.temporal(), context.settings, name, ledger, context.catalog, live=live
    )
    body = report.as_json()
    body["event_router"] = await event_router_status(context.settings, context.catalog)
    return body


@router.get("/alerts/", tags=["status"])
async def alerts(_: Reader, context: Context, include_closed: bool = False) -> list[dict[str, Any]]:
    """Watchdog alerts from the ledger, newest first (open ones unless asked)."""
    return await Ledger(context.need_store()).alerts(open_only=not include_closed)
