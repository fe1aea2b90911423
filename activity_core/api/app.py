"""The FastAPI application: definitions, runs, deliveries, status, health, and the board.

Route handlers call :mod:`activity_core.services` and the store; they hold no logic of
their own (the CLI calls the same functions).
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activity_core import __version__
from activity_core.api.auth import Tokens
from activity_core.api.board import router as board_router
from activity_core.api.board import templates
from activity_core.api.bodies import BodyDoor
from activity_core.api.context import ApiContext
from activity_core.api.headers import SecurityHeaders
from activity_core.api.routes_definitions import router as definitions_router
from activity_core.api.routes_events import router as events_router
from activity_core.api.routes_mutes import router as mutes_router
from activity_core.api.routes_ops import router as ops_router
from activity_core.api.routes_repair import router as repair_router
from activity_core.errors import (
    DefinitionConflict,
    DefinitionNotFound,
    DefinitionsError,
    StoreUnavailable,
)
from activity_core.services.definitions import REQUEST_BODY
from activity_core.services.registry import prepare_store
from activity_core.settings import Settings
from activity_core.store import Store
from activity_core.store.errors import STORE_ERRORS

_FIELD = re.compile(r"[.\[\]]+")


def _loc(path: str) -> list[str | int]:
    parts: list[str | int] = ["body"]
    for part in _FIELD.split(path):
        if part:
            parts.append(int(part) if part.isascii() and part.isdigit() else part)
    return parts


def invalid_body(exc: DefinitionsError) -> JSONResponse:
    """422 with one entry per problem: the field and what to do about it."""
    detail: list[dict[str, Any]] = []
    for line in exc.errors:
        rest = line.removeprefix(f"{REQUEST_BODY}: ")
        field, _, msg = rest.partition(": ")
        if not msg:
            field, msg = "(top level)", rest
        detail.append({"loc": _loc(field), "msg": msg, "type": "definition_invalid"})
    return JSONResponse({"detail": detail}, status_code=422)


log = logging.getLogger(__name__)

RETRY_AFTER_S = "5"
"""What a 503 asks the client to wait before trying again."""
BUSY = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.ABORTED,
}


def temporal_error(exc: RPCError) -> JSONResponse:
    """Temporal down or overloaded: 503 with Retry-After (never a 500); a refusal it
    explains: 502 with its reason."""
    if exc.status in BUSY:
        return JSONResponse(
            {"detail": f"Temporal is unavailable or busy ({exc.status.name}); try again"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": RETRY_AFTER_S},
        )
    return JSONResponse(
        {"detail": f"Temporal refused the request ({exc.status.name}): {exc.message[:200]}"},
        status_code=status.HTTP_502_BAD_GATEWAY,
    )


def _culprit(exc: BaseException) -> str:
    """Which service an I/O error or timeout came from, by the code it was raised in:
    the database, Temporal, or neither (then it is ours: a 500 is honest)."""
    modules: list[str] = []
    for link in (exc, exc.__cause__, exc.__context__):
        tb = link.__traceback__ if link is not None else None
        while tb is not None:
            modules.append(str(tb.tb_frame.f_globals.get("__name__", "")))
            tb = tb.tb_next
    for name in reversed(modules):  # the innermost frame decides
        top = name.split(".")[0]
        if top in ("sqlalchemy", "asyncpg", "aiosqlite", "sqlite3") or name.startswith(
            "activity_core.store"
        ):
            return "database"
        if top == "temporalio":
            return "Temporal"
    return ""


async def unavailable(request: Request, exc: Exception) -> JSONResponse:
    """An error a backing service raised: 503 naming which one; anything else, 500."""
    culprit = "database" if isinstance(exc, SQLAlchemyError) else _culprit(exc)
    if not culprit:
        # The type only: an error's text may quote a URL with its password.
        log.error("request failed", extra={"error": type(exc).__name__, "path": request.url.path})
        return JSONResponse(
            {"detail": f"internal error ({type(exc).__name__})"},
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return JSONResponse(
        {"detail": f"{culprit} unavailable ({type(exc).__name__}); try again"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": RETRY_AFTER_S},
    )


def warm_up() -> None:
    """Compile the board's templates, then move everything loaded so far out of the
    garbage collector's reach (``gc.freeze``): a full collection otherwise walks the
    SDK's, SQLAlchemy's and Jinja's objects during a request, which put a board build's
    p99 at twice its p50 (docs/performance.md)."""
    for name in ("board.html", "definition.html", "runbook.html"):
        templates.get_template(name)
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings, *, store: Store | None = None, client: Client | None = None
) -> FastAPI:
    """The API for ``settings``; ``store`` and ``client`` override the database of
    ``ACTCORE_DB_URL`` and the Temporal of the environment (tests, embedding)."""

    own = store is None
    url = settings.database_url()
    context = ApiContext(settings, store if not own else Store(url) if url else None, client)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if own and context.store is not None:
            await prepare_store(context.store)
        warm_up()
        await context.health.start(settings.health_bind_addr)
        context.health.serving()
        try:
            yield
        finally:
            context.health.drain()
            await context.health.stop()
            if own and context.store is not None:
                await context.store.close()

    # Swagger UI and ReDoc from the installed package's files: nothing from a CDN.
    app = FastAPIOffline(
        title="activity-core",
        version=__version__,
        description="Definitions, runs, deliveries and status of activity-core.",
        lifespan=lifespan,
    )
    app.state.ctx = context
    write, read = settings.api_tokens()
    app.state.tokens = Tokens(tuple(write), tuple(read), settings.api_read_open)
    app.add_middleware(BodyDoor, limit=settings.api_max_body_bytes)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(DefinitionsError)
    async def _invalid(_: Request, exc: DefinitionsError) -> JSONResponse:
        return invalid_body(exc)

    @app.exception_handler(DefinitionNotFound)
    async def _missing(_: Request, exc: DefinitionNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(DefinitionConflict)
    async def _conflict(_: Request, exc: DefinitionConflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(StoreUnavailable)
    async def _store_down(_: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)

    @app.exception_handler(RPCError)
    async def _temporal_refused(_: Request, exc: RPCError) -> JSONResponse:
        return temporal_error(exc)

    for error in STORE_ERRORS:
        app.add_exception_handler(error, unavailable)

    app.include_router(board_router)
    app.include_router(ops_router)
    app.include_router(definitions_router)
    app.include_router(events_router)
    app.include_router(mutes_router)
    app.include_router(repair_router)
    return app
