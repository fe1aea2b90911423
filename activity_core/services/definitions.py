"""Definitions through the API: create, replace, patch, delete and trigger.

A write validates exactly like a file (:func:`activity_core.loader.validate_definition`),
updates the registry, and syncs that one schedule before it answers. Definitions that
come from files are read-only here: edit the file and sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from activity_core.domain import ActivityDefinition, EventTrigger, is_scheduled, schedule_id
from activity_core.domain.events import unknown_event_types
from activity_core.errors import DefinitionNotFound, DefinitionsError
from activity_core.loader import validate_definition
from activity_core.services.runs import start_manual_run
from activity_core.services.schedules import SyncChange, sync_schedules
from activity_core.settings import Settings
from activity_core.store import Registry, Store, StoredDefinition

REQUEST_BODY = "request body"


@dataclass
class Written:
    """A definition as stored after a write, with what its schedule sync did."""

    stored: StoredDefinition
    schedule: SyncChange | None
    warnings: list[str]


class DefinitionService:
    """The API's definition operations over one store and one Temporal client."""

    def __init__(self, client: Client, store: Store, settings: Settings) -> None:
        """Use ``client`` for schedules and runs, ``store`` for the registry."""
        self._client = client
        self._registry = Registry(store)
        self._settings = settings

    async def all(self) -> list[StoredDefinition]:
        """Every definition, files and API alike."""
        return await self._registry.all()

    async def get(self, key: str) -> StoredDefinition:
        """By id or name.

        Raises:
            DefinitionNotFound: Nothing has that id or name.
        """
        found = await self._registry.get(key)
        if found is None:
            raise DefinitionNotFound(f"no definition with id or name {key!r}")
        return found

    async def _validate(self, body: Any) -> tuple[ActivityDefinition, list[str]]:
        definition, warnings = validate_definition(
            body, REQUEST_BODY, self._settings.activity_timeout_seconds
        )
        if isinstance(definition.trigger_config, EventTrigger):
            known = [t.name for t in await self._registry.event_types()]
            problems = unknown_event_types([definition], known)
            if problems:
                raise DefinitionsError(
                    [f"{REQUEST_BODY}: trigger_config.event_type: {problems[0][1]}"]
                )
        return definition, warnings

    async def create(self, body: Any, actor: str) -> Written:
        """Validate, store (``origin=api``) and create its schedule."""
        definition, warnings = await self._validate(body)
        stored = await self._registry.create(definition, actor)
        return Written(stored, await self._sync(stored.definition), warnings)

    async def update(
        self, key: str, body: dict[str, Any], actor: str, if_version: int | None
    ) -> Written:
        """Merge ``body`` over the stored definition (a partial body is accepted, as the
        API always did), validate, store a new version and sync its schedule."""
        current = await self.get(key)
        merged = {**current.definition.model_dump(mode="json"), **body}
        merged["id"] = str(current.definition.id)
        definition, warnings = await self._validate(merged)
        stored = await self._registry.replace(current, definition, actor, if_version)
        return Written(stored, await self._sync(stored.definition), warnings)

    async def delete(self, key: str, actor: str, if_version: int | None) -> None:
        """Delete an API definition and its schedule."""
        current = await self.get(key)
        await self._registry.delete(current, actor, if_version)
        if is_scheduled(current.definition):
            try:
                await self._client.get_schedule_handle(schedule_id(current.definition)).delete()
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise

    async def trigger(self, key: str) -> WorkflowHandle[Any, Any]:
        """Start a run now (manual trigger)."""
        return await start_manual_run(self._client, (await self.get(key)).definition)

    async def _sync(self, definition: ActivityDefinition) -> SyncChange | None:
        if not is_scheduled(definition):
            return None
        changes = await sync_schedules(self._client, [definition], prune=False)
        return changes[0] if changes else None
