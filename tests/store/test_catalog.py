"""The one catalogue of definitions in force, over a real SQLite store that is on, off
(``ACTCORE_DB_URL=none``), or stops answering; and what the router matches by it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from activity_core.catalog import Catalog
from activity_core.domain import ActivityDefinition
from activity_core.errors import DefinitionNotFound, DefinitionsError, StoreUnavailable
from activity_core.events.sources import DefinitionSource
from activity_core.loader import read_definitions
from activity_core.settings import Settings
from activity_core.store import Registry, Store, migrate


def _write(defs: Path, name: str, **trigger: object) -> None:
    body = {
        "name": name,
        "handler": "static_report",
        "params": {"title": name, "body": "-"},
        "trigger_config": trigger or {"trigger_type": "manual"},
    }
    (defs / f"{name}.yaml").write_text(yaml.safe_dump(body))


def _api(name: str, **trigger: object) -> ActivityDefinition:
    return ActivityDefinition.model_validate(
        {
            "name": name,
            "handler": "static_report",
            "params": {"title": name, "body": "-"},
            "trigger_config": trigger or {"trigger_type": "manual"},
        }
    )


async def _stocked(tmp_path: Path) -> tuple[Settings, Store]:
    """A registry holding one imported file and one API definition (an event one each
    too); beside them, a file never imported and a broken file."""
    defs = tmp_path / "definitions"
    defs.mkdir()
    (defs / "event-types").mkdir()
    (defs / "event-types" / "user.created.yaml").write_text("name: user.created\n")
    _write(defs, "from-file")
    _write(defs, "file-events", trigger_type="event", event_type="user.created")
    db = tmp_path / "db"
    db.mkdir()
    store = Store(f"sqlite+aiosqlite:///{db / 'actcore.db'}")
    await migrate.upgrade(store)
    loaded = read_definitions(defs)
    assert loaded.errors == []
    await Registry(store).import_files(
        loaded.definitions, loaded.sources, "test", event_types=loaded.event_types
    )
    await Registry(store).create(_api("from-api"), "test")
    await Registry(store).create(
        _api("api-events", trigger_type="event", event_type="user.created"), "test"
    )
    _write(defs, "stray")  # written after the import: not in force with a registry
    (defs / "broken.yaml").write_text(
        "name: broken\nhandler: static_report\ntrigger_config: {trigger_type: nope}\n"
    )
    return Settings(home=tmp_path / "home", definitions_dir=defs), store


async def _down(store: Store, tmp_path: Path) -> None:
    """The database stops answering: its directory goes away under the pool."""
    await store.close()
    (tmp_path / "db").rename(tmp_path / "db-gone")


@pytest.mark.parametrize("mode", ["on", "off", "down"])
async def test_file_and_api_definitions_are_found_alike_by_the_rule(
    tmp_path: Path, mode: str
) -> None:
    settings, store = await _stocked(tmp_path)
    try:
        if mode == "off":
            settings = settings.model_copy(update={"db_url": SecretStr("none")})
        catalog = Catalog(settings, None if mode == "off" else store)
        if mode == "down":
            assert (await catalog.view()).degraded is None  # one registry read first
            await _down(store, tmp_path)
        view = await catalog.view()
        names = set(view.names())
        if mode == "off":
            # The directory: every valid file, the never-imported one included; no API rows.
            assert names == {"from-file", "file-events", "stray"}
            assert view.degraded is not None and "ACTCORE_DB_URL=none" in view.degraded
            assert any("broken.yaml" in p and "trigger_config" in p for p in view.problems)
            with pytest.raises(DefinitionsError, match="trigger_config"):
                await catalog.find("broken")
        else:
            assert names == {"from-file", "file-events", "from-api", "api-events"}
            for key in ("from-api", str(view.find("from-api").definition.id), "from-file"):
                assert (await catalog.find(key)).name in ("from-api", "from-file")
            assert view.find("from-api").origin == "api"
            assert view.find("from-file").origin == "file"
            if mode == "on":
                assert view.degraded is None and catalog.degraded is None
            else:
                assert view.degraded is not None and "as read at" in view.degraded
                assert catalog.degraded == view.degraded
        # Either way the file definition is found by id and by name, the same way.
        found = await catalog.find("from-file")
        assert (await catalog.find(str(found.id))).name == "from-file"
    finally:
        await store.close()


async def test_a_file_never_imported_is_not_in_force_and_the_miss_says_why(
    tmp_path: Path,
) -> None:
    settings, store = await _stocked(tmp_path)
    try:
        with pytest.raises(DefinitionNotFound) as missed:
            await Catalog(settings, store).find("stray")
        text = str(missed.value)
        assert "stray.yaml defines it but has not been imported" in text
        assert "actcore sync" in text and "from-api" in text and "from-file" in text
        with pytest.raises(DefinitionNotFound, match=r"never imported: .*trigger_config"):
            await Catalog(settings, store).find("broken")
        with pytest.raises(DefinitionNotFound, match=r"no definition named 'nope' \(known: "):
            await Catalog(settings, store).find("nope")
    finally:
        await store.close()


async def test_a_store_down_before_any_read_falls_back_to_the_directory(tmp_path: Path) -> None:
    settings, store = await _stocked(tmp_path)
    await _down(store, tmp_path)
    catalog = Catalog(settings, store)
    view = await catalog.view()
    assert view.source == "directory" and "is unavailable" in (view.degraded or "")
    assert "from-file" in view.names() and "from-api" not in view.names()
    # The router does not route by the files alone while a store is configured.
    with pytest.raises(StoreUnavailable, match="waits for the registry"):
        await DefinitionSource(settings, catalog).catalogue()


async def test_an_empty_registry_reads_the_directory_and_says_so(tmp_path: Path) -> None:
    defs = tmp_path / "definitions"
    defs.mkdir()
    _write(defs, "only-file")
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    await migrate.upgrade(store)
    try:
        view = await Catalog(Settings(definitions_dir=defs), store).view()
        assert view.names() == ["only-file"]
        assert view.degraded is not None and "holds no definitions yet" in view.degraded
    finally:
        await store.close()


async def test_the_router_matches_api_and_file_event_definitions(tmp_path: Path) -> None:
    settings, store = await _stocked(tmp_path)
    try:
        uncached = settings.model_copy(update={"router_refresh_seconds": 0})
        catalog = Catalog(uncached, store)
        source = DefinitionSource(uncached, catalog)
        matched = {d.name for d in (await source.catalogue()).by_type["user.created"]}
        assert matched == {"file-events", "api-events"}
        await _down(store, tmp_path)
        # The store stops answering: the router keeps matching by its last registry read.
        again = {d.name for d in (await source.catalogue()).by_type["user.created"]}
        assert again == matched and "as read at" in (catalog.degraded or "")
    finally:
        await store.close()
