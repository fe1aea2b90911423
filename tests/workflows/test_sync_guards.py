"""Sync is never destructive by accident, and one broken file is not an outage:
an empty or half-copied directory does not prune everything, and a run of a good
definition still runs next to a half-saved neighbour."""

from __future__ import annotations

from pathlib import Path

import pytest

from activity_core.domain import ActivityDefinition, RunOutcome, schedule_id
from activity_core.errors import MassRemovalRefused
from activity_core.loader import LoadedDefinitions
from activity_core.services.registry import sync
from activity_core.services.schedules import sync_schedules
from activity_core.settings import Settings
from activity_core.store import Registry, Store, migrate
from tests.helpers import RestartableServer, Stack, assert_eventually


def _cron(name: str) -> ActivityDefinition:
    return ActivityDefinition.model_validate(
        {
            "name": name,
            "handler": "static_report",
            "trigger_config": {
                "trigger_type": "cron",
                "cron_expression": "0 5 * * *",
                "misfire_policy": "skip",
            },
        }
    )


async def test_empty_directory_neither_prunes_schedules_nor_registry(tmp_path: Path) -> None:
    server = RestartableServer(tmp_path / "temporal.db")
    client = await server.start()
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    await migrate.upgrade(store)
    settings = Settings(home=tmp_path, definitions_dir=tmp_path, watchdog_interval_seconds=0)
    defs = [_cron(f"guarded-{i}") for i in range(4)]
    full = LoadedDefinitions(
        definitions=defs, sources={d.name: tmp_path / f"{d.name}.yaml" for d in defs}
    )
    try:
        await sync(client, settings, store, full, who="test")

        async def all_listed() -> None:
            ids = {s.id async for s in await client.list_schedules()}
            assert {schedule_id(d) for d in defs} <= ids

        await assert_eventually(all_listed, within=45)

        with pytest.raises(MassRemovalRefused, match=r"remove 4 of the 4 definitions"):
            await sync(client, settings, store, LoadedDefinitions(), who="test")
        assert len(await Registry(store).all()) == 4
        # Three of four gone (a half-copied directory) is refused too, for the schedules.
        with pytest.raises(MassRemovalRefused, match=r"delete 3 of the 4 definition schedules"):
            await sync_schedules(client, defs[:1])
        await all_listed()  # nothing was deleted

        # One of four gone is an ordinary prune.
        await sync(
            client,
            settings,
            store,
            LoadedDefinitions(definitions=defs[:3], sources=full.sources),
            who="test",
        )
        assert len(await Registry(store).all()) == 3

        # Asked for explicitly, everything may go.
        await sync(client, settings, store, LoadedDefinitions(), who="test", prune_all=True)
        assert await Registry(store).all() == []

        async def all_gone() -> None:
            # The schedule list is read from visibility: a deletion shows up a moment later.
            left = [
                s.id
                async for s in await client.list_schedules()
                if s.id.startswith("activity-schedule-")
            ]
            assert all(schedule_id(d) not in left for d in defs), left

        await assert_eventually(all_gone, within=30)
    finally:
        await store.close()
        server.stop()


async def test_a_half_saved_neighbour_does_not_stop_a_good_run(stack: Stack) -> None:
    stack.define("steady")
    (stack.definitions_dir / "zz.yaml").write_text("name: zz\nhandler: static_rep")  # cut off
    result = await stack.run("steady")
    assert result.outcome == RunOutcome.RAN


async def test_a_run_of_a_broken_file_names_that_file(stack: Stack) -> None:
    (stack.definitions_dir / "broken.yaml").write_text("name: broken\nhandler: [\n")
    handle = await stack.start_run("broken")
    with pytest.raises(Exception) as info:
        await handle.result()
    cause = info.value.__cause__
    while cause is not None and cause.__cause__ is not None:
        cause = cause.__cause__
    assert "broken.yaml: invalid YAML" in str(cause)
