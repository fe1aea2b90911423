"""The definitions registry: file imports are all or nothing, and idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from activity_core.domain import ActivityDefinition
from activity_core.errors import DefinitionsError
from activity_core.store import Registry, Store
from activity_core.store.models import DefinitionRow


def definition(name: str, **extra: Any) -> ActivityDefinition:
    body: dict[str, Any] = {
        "name": name,
        "handler": "static_report",
        "trigger_config": {"trigger_type": "manual"},
        **extra,
    }
    return ActivityDefinition.model_validate(body)


def sources(*defs: ActivityDefinition) -> dict[str, Path]:
    return {d.name: Path(f"definitions/{d.name}.yaml") for d in defs}


async def test_import_creates_then_changes_nothing_then_updates_and_deletes(store: Store) -> None:
    registry = Registry(store)
    a, b = definition("alpha"), definition("beta")
    first = await registry.import_files([a, b], sources(a, b), "test")
    assert (sorted(first.created), first.updated, first.deleted) == (["alpha", "beta"], [], [])

    again = await registry.import_files([a, b], sources(a, b), "test")
    assert sorted(again.unchanged) == ["alpha", "beta"] and not again.created + again.updated

    a2 = definition("alpha", description="now described")
    changed = await registry.import_files([a2], sources(a2), "someone")
    assert (changed.updated, changed.deleted) == (["alpha"], ["beta"])

    stored = await registry.get("alpha")
    assert stored is not None
    assert stored.definition.description == "now described"
    assert (stored.version, stored.origin, stored.updated_by) == (2, "file", "someone")
    assert stored.etag == f'"{a.id}-2"'
    assert await registry.get("beta") is None
    assert (await registry.get(str(a.id))) == stored  # by id as well as by name


async def test_a_file_cannot_take_an_api_definition_and_nothing_is_written(store: Store) -> None:
    registry = Registry(store)
    api = definition("from-api")
    async with store.sessions.begin() as session:
        await registry.import_files([api], sources(api), "api-user")
        row = await session.get(DefinitionRow, api.id)
        assert row is not None
        row.origin = "api"
    other = definition("other")
    with pytest.raises(DefinitionsError, match="created through the API"):
        await registry.import_files([definition("from-api"), other], sources(api, other), "t")
    assert await registry.get("other") is None  # all or nothing
    stored = await registry.get("from-api")
    assert stored is not None and stored.origin == "api"


async def test_dry_run_writes_nothing(store: Store) -> None:
    registry = Registry(store)
    a = definition("alpha")
    result = await registry.import_files([a], sources(a), "t", dry_run=True)
    assert result.created == ["alpha"]
    assert await registry.all() == []


async def test_api_definitions_survive_a_file_import(store: Store) -> None:
    registry = Registry(store)
    api = definition("kept")
    await registry.import_files([api], sources(api), "t")
    async with store.sessions.begin() as session:
        row = await session.get(DefinitionRow, api.id)
        assert row is not None
        row.origin = "api"
    result = await registry.import_files([], {}, "t")
    assert result.deleted == []
    assert [s.definition.name for s in await registry.all()] == ["kept"]
