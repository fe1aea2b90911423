"""The status board: ``GET /`` and a page per definition. Server-rendered, no JavaScript,
refreshes itself, readable on a phone. The view is built by
:func:`activity_core.services.board.board_view` and cached for a few seconds."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from temporalio.service import RPCError

from activity_core.api.auth import can_read
from activity_core.api.context import ApiContext, ctx
from activity_core.api.runbook import runbook_html
from activity_core.errors import DefinitionNotFound
from activity_core.services.board import (
    BoardView,
    RecentFires,
    board_view,
    definition_runs,
    recent_fires,
    workflows_url,
)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _code(text: str) -> Markup:
    """Text with its `backticked` commands as ``<code>``, everything else escaped."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


templates.env.filters["code"] = _code
REFRESH_S = 30
CACHE_S = 5.0


async def _view(context: ApiContext) -> BoardView:
    cached = context.board_cache
    if cached is not None and time.monotonic() - cached[0] < CACHE_S:
        view: BoardView = cached[1]
        return view
    view = await board_view(await context.temporal(), context.catalog, context.settings)
    context.board_cache = (time.monotonic(), view)
    return view


@router.get("/", response_class=HTMLResponse)
async def board(
    request: Request,
    _: Annotated[str, Depends(can_read)],
    context: Annotated[ApiContext, Depends(ctx)],
) -> HTMLResponse:
    """One row per definition: policy, last fire and its verdict, deliveries, alerts."""
    view = await _view(context)
    return templates.TemplateResponse(
        request, "board.html", {"view": view, "refresh": REFRESH_S, "title": "activity-core"}
    )


@router.get("/runbook", response_class=HTMLResponse)
async def runbook(request: Request, _: Annotated[str, Depends(can_read)]) -> HTMLResponse:
    """The runbook, each section at its heading's anchor (404 where it was not shipped)."""
    html = runbook_html()
    if html is None:
        return templates.TemplateResponse(
            request,
            "not_found.html",
            {"key": "runbook", "refresh": 0, "title": "not found: activity-core"},
            status_code=404,
        )
    return templates.TemplateResponse(
        request, "runbook.html", {"html": html, "refresh": 0, "title": "runbook: activity-core"}
    )


@router.get("/definitions/{key}", response_class=HTMLResponse)
async def definition_page(
    key: str,
    request: Request,
    _: Annotated[str, Depends(can_read)],
    context: Annotated[ApiContext, Depends(ctx)],
) -> HTMLResponse:
    """A definition's last 30 fires from the ledger (404, a page, for an unknown one)."""
    try:
        name, runs = await definition_runs(context.catalog, key)
    except DefinitionNotFound:
        return templates.TemplateResponse(
            request,
            "not_found.html",
            {"key": key, "refresh": REFRESH_S, "title": "not found: activity-core"},
            status_code=404,
        )
    try:
        fires = await recent_fires(await context.temporal(), context.catalog, key)
    except (RPCError, TimeoutError, HTTPException, RuntimeError) as exc:
        fires = RecentFires(unavailable=f"Temporal did not answer ({type(exc).__name__})")
    return templates.TemplateResponse(
        request,
        "definition.html",
        {
            "name": name,
            "runs": runs,
            "fires": fires,
            "refresh": REFRESH_S,
            "title": f"{name}: activity-core",
            "workflows": workflows_url(context.settings, context.namespace()),
        },
    )
