"""``/activity-definitions/``: list, create, read, replace, patch, delete, trigger."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Response, status

from activity_core.api.auth import can_read, can_write
from activity_core.api.context import ApiContext, ctx
from activity_core.api.models import DefinitionOut, TriggerOut
from activity_core.catalog import Entry
from activity_core.services.definitions import DefinitionService, Written

router = APIRouter(prefix="/activity-definitions", tags=["definitions"])

EXAMPLE = {
    "name": "weekday-standup-digest",
    "handler": "activity_digest",
    "params": {"hours": 24},
    "trigger_config": {
        "trigger_type": "cron",
        "cron_expression": "0 9 * * 1-5",
        "timezone": "Europe/Berlin",
        "misfire_policy": "skip",
    },
}
DefinitionBody = Annotated[
    dict[str, Any],
    Body(
        description="A definition in the file schema (docs/definitions.md).",
        examples=[EXAMPLE],
    ),
]


DEGRADED_HEADER = "X-Actcore-Degraded"
"""Set (with the reason) when definitions were not read from the registry."""


async def _service(context: ApiContext) -> DefinitionService:
    return DefinitionService(await context.temporal(), context.catalog, context.settings)


def _etag(response: Response, entry: Entry) -> None:
    if entry.stored is not None:
        response.headers["ETag"] = entry.stored.etag


def _degraded(response: Response, context: ApiContext) -> str | None:
    reason = context.catalog.degraded
    if reason is not None:
        response.headers[DEGRADED_HEADER] = reason.encode("ascii", "replace").decode()
    return reason


def _if_match(value: str | None, key: str) -> tuple[str, int] | None:
    """The definition id and version an ``If-Match`` ETag names (None: no precondition)."""
    if value is None or value.strip() == "*":
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    head, _, version = tag.rpartition("-")
    if not head or not (version.isascii() and version.isdigit()):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail=f"If-Match {value!r} is not an ETag of {key!r}: send the ETag header "
            'of a GET, e.g. "<id>-<version>"',
        )
    return head, int(version)


def _written(response: Response, written: Written) -> DefinitionOut:
    entry = Entry(
        written.stored.definition, written.stored.origin, written.stored.source, written.stored
    )
    _etag(response, entry)
    return DefinitionOut.of(entry, written.warnings)


@router.get("/", response_model=list[DefinitionOut])
async def list_definitions(
    response: Response,
    _: Annotated[str, Depends(can_read)],
    context: Annotated[ApiContext, Depends(ctx)],
) -> list[DefinitionOut]:
    """Every definition in force (from files and from this API). When the registry could
    not answer, each item's ``degraded`` and the ``X-Actcore-Degraded`` header say why."""
    entries = await DefinitionService(None, context.catalog, context.settings).all()
    reason = _degraded(response, context)
    return [DefinitionOut.of(e, degraded=reason) for e in entries]


@router.post("/", status_code=status.HTTP_201_CREATED, response_model=DefinitionOut)
async def create_definition(
    body: DefinitionBody,
    response: Response,
    who: Annotated[str, Depends(can_write)],
    context: Annotated[ApiContext, Depends(ctx)],
) -> DefinitionOut:
    """Validate like a file (422 names the field and the fix), store, sync its schedule."""
    written = await (await _service(context)).create(body, who)
    response.headers["Location"] = f"/activity-definitions/{written.stored.definition.id}"
    return _written(response, written)


@router.get("/{key}", response_model=DefinitionOut)
async def get_definition(
    key: Annotated[str, Path(min_length=1)],
    response: Response,
    _: Annotated[str, Depends(can_read)],
    context: Annotated[ApiContext, Depends(ctx)],
) -> DefinitionOut:
    """By id or name; the ``ETag`` header is the version to send back in ``If-Match``."""
    entry = await DefinitionService(None, context.catalog, context.settings).get(key)
    _etag(response, entry)
    return DefinitionOut.of(entry, degraded=_degraded(response, context))


async def update_definition(
    key: Annotated[str, Path(min_length=1)],
    body: DefinitionBody,
    response: Response,
    who: Annotated[str, Depends(can_write)],
    context: Annotated[ApiContext, Depends(ctx)],
    if_match: Annotated[str | None, Header()] = None,
) -> DefinitionOut:
    """Change the fields given and keep the rest (PUT with a partial body merges, as the
    old API did: ``{"enabled": false}`` pauses the schedule). 409 for a file's
    definition, 412 when ``If-Match`` is stale."""
    service = await _service(context)
    written = await service.update(key, body, who, _if_match(if_match, key))
    return _written(response, written)


for _method, _operation in (("PUT", "replace_definition"), ("PATCH", "patch_definition")):
    router.add_api_route(
        "/{key}",
        update_definition,
        methods=[_method],
        operation_id=_operation,
        response_model=DefinitionOut,
    )


@router.delete("/{key}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_definition(
    key: Annotated[str, Path(min_length=1)],
    who: Annotated[str, Depends(can_write)],
    context: Annotated[ApiContext, Depends(ctx)],
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Delete an API definition and its schedule (409 for a file's definition)."""
    await (await _service(context)).delete(key, who, _if_match(if_match, key))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{key}/trigger", status_code=status.HTTP_202_ACCEPTED, response_model=TriggerOut)
async def trigger_definition(
    key: Annotated[str, Path(min_length=1)],
    _: Annotated[str, Depends(can_write)],
    context: Annotated[ApiContext, Depends(ctx)],
) -> TriggerOut:
    """Start a run now; answers with its id and its Web UI page."""
    handle = await (await _service(context)).trigger(key)
    ui = context.settings.web_ui_url
    namespace = (await context.temporal()).namespace
    link = f"{ui.rstrip('/')}/namespaces/{namespace}/workflows/{handle.id}" if ui else None
    return TriggerOut(run_id=handle.id, web_ui=link)
