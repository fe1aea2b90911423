"""Definitions through the API: create, replace, patch, delete and trigger.

Reads go through the catalogue (:mod:`activity_core.catalog`), like every other reader.
A write validates exactly like a file (:func:`activity_core.loader.validate_definition`),
updates the registry, and writes that one schedule through the journaled sync before it
answers. Definitions that come from files are read-only here: edit the file and sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowHandle

from activity_core.catalog import Catalog, Entry, not_found_message
from activity_core.domain import ActivityDefinition, EventTrigger, is_scheduled
from activity_core.domain.events import unknown_event_types
from activity_core.errors import (
    DefinitionConflict,
    DefinitionNotFound,
    DefinitionsError,
    StoreUnavailable,
)
from activity_core.loader import validate_definition
from activity_core.services.registry import remove_schedule, write_schedules
from activity_core.services.runs import start_manual_run
from activity_core.services.schedules import SyncChange
from activity_core.settings import Settings
from activity_core.store import Registry, StoredDefinition

REQUEST_BODY = "request body"


@dataclass
class Written:
    """A definition as stored after a write, with what its schedule sync did."""

    stored: StoredDefinition
    schedule: SyncChange | None
    warnings: list[str]


class DefinitionService:
    """The API's definition operations over one catalogue and one Temporal client."""

    def __init__(self, client: Client | None, catalog: Catalog, settings: Settings) -> None:
        """Use ``client`` for schedules and runs (None: reads only), ``catalog`` for reads
        (its store for writes)."""
        self._temporal = client
        self._catalog = catalog
        self._settings = settings

    @property
    def _client(self) -> Client:
        assert self._temporal is not None, "a write or a trigger needs a Temporal client"
        return self._temporal

    @property
    def catalog(self) -> Catalog:
        """Where reads come from (``degraded`` says when not from the registry)."""
        return self._catalog

    def _registry(self) -> Registry:
        store = self._catalog.store
        if store is None:
            raise StoreUnavailable(
                f"{self._catalog.degraded or 'the store is off'}; writes need the registry"
            )
        return Registry(store)

    async def all(self) -> list[Entry]:
        """Every definition in force, files and API alike."""
        return (await self._catalog.view()).entries

    async def get(self, key: str) -> Entry:
        """By id or name.

        Raises:
            DefinitionNotFound: Nothing has that id or name (the known names are listed).
        """
        return await self._catalog.entry(key)

    async def _stored(self, key: str) -> StoredDefinition:
        """The registry row of ``key`` (a write needs the registry, not a fallback)."""
        found = await self._registry().get(key)
        if found is None:
            view = await self._catalog.view()
            raise DefinitionNotFound(not_found_message(key, view.names(), view.hint(key)))
        return found

    async def _validate(self, body: Any) -> tuple[ActivityDefinition, list[str]]:
        definition, warnings = validate_definition(
            body,
            REQUEST_BODY,
            self._settings.activity_timeout_seconds,
            self._settings.egress_policy(),
        )
        if isinstance(definition.trigger_config, EventTrigger):
            known = [t.name for t in await self._registry().event_types()]
            problems = unknown_event_types([definition], known)
            if problems:
                raise DefinitionsError(
                    [f"{REQUEST_BODY}: trigger_config.event_type: {problems[0][1]}"]
                )
        return definition, warnings

    async def create(self, body: Any, actor: str) -> Written:
        """Validate, store (``origin=api``) and create its schedule."""
        definition, warnings = await self._validate(body)
        stored = await self._registry().create(definition, actor)
        return Written(stored, await self._sync(stored.definition, actor), warnings)

    async def update(
        self, key: str, body: dict[str, Any], actor: str, if_match: IfMatch | None
    ) -> Written:
        """Merge ``body`` over the stored definition (a partial body is accepted, as the
        API always did), validate, store a new version and sync its schedule."""
        current = await self._stored(key)
        if_version = _precondition(current, if_match)
        merged = {**current.definition.model_dump(mode="json"), **body}
        merged["id"] = str(current.definition.id)
        definition, warnings = await self._validate(merged)
        stored = await self._registry().replace(current, definition, actor, if_version)
        if is_scheduled(current.definition) and not is_scheduled(stored.definition):
            await remove_schedule(self._client, self._catalog.store, current.definition, who=actor)
        return Written(stored, await self._sync(stored.definition, actor), warnings)

    async def delete(self, key: str, actor: str, if_match: IfMatch | None) -> None:
        """Delete an API definition and its schedule."""
        current = await self._stored(key)
        if_version = _precondition(current, if_match)
        await self._registry().delete(current, actor, if_version)
        if is_scheduled(current.definition):
            await remove_schedule(self._client, self._catalog.store, current.definition, who=actor)

    async def trigger(self, key: str) -> WorkflowHandle[Any, Any]:
        """Start a run now (manual trigger)."""
        return await start_manual_run(self._client, (await self.get(key)).definition)

    async def _sync(self, definition: ActivityDefinition, actor: str) -> SyncChange | None:
        if not is_scheduled(definition):
            return None
        changes = await write_schedules(
            self._client, self._catalog.store, [definition], who=actor, prune=False
        )
        return changes[0] if changes else None


IfMatch = tuple[str, int]
"""An ``If-Match`` ETag: (definition id, version)."""


def _precondition(current: StoredDefinition, if_match: IfMatch | None) -> int | None:
    """The version to hold the write to; an ETag of another definition is stale (412)."""
    if if_match is None:
        return None
    owner, version = if_match
    if owner != str(current.definition.id):
        raise DefinitionConflict(
            f"If-Match {owner}-{version} is an ETag of another definition, not of "
            f"{current.definition.name!r} ({current.etag}): GET it again",
            status=412,
        )
    return version
