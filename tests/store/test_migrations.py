"""Migrations: up from empty, one step down and up again, and models that match them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from activity_core.store import Store, migrate
from activity_core.store.models import Base

TABLES = {
    "activity_definitions",
    "activity_runs",
    "report_deliveries",
    "alerts",
    "schedule_changes",
    "event_types",
    "emitted_tasks",
    "sink_checks",
    "mutes",
    "backfill_plans",
}


async def _tables(store: Store) -> set[str]:
    async with store.engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    return names - {"alembic_version"}


async def _run_indexes(store: Store) -> set[str]:
    async with store.engine.connect() as conn:
        found = await conn.run_sync(lambda c: inspect(c).get_indexes("activity_runs"))
    return {str(i["name"]) for i in found}


async def test_upgrade_from_empty_then_down_one_step_and_up_again(store_url: str) -> None:
    store = Store(store_url)
    try:
        assert await migrate.current(store) is None
        await migrate.upgrade(store)
        assert await migrate.current(store) == migrate.head()
        assert await _tables(store) == TABLES
        assert "ix_activity_runs_activity_fire" in await _run_indexes(store)
        await migrate.downgrade(store, "-1")
        assert await migrate.current(store) == "0006"
        assert await _tables(store) == TABLES - {"backfill_plans"}
        await migrate.downgrade(store, "-1")
        assert await migrate.current(store) == "0005"
        assert await _tables(store) == TABLES - {"mutes", "backfill_plans"}
        await migrate.downgrade(store, "-1")
        assert await migrate.current(store) == "0004"
        assert await _tables(store) == TABLES - {"mutes", "backfill_plans"}
        await migrate.downgrade(store, "-1")
        assert await migrate.current(store) == "0003"
        assert await _tables(store) == TABLES - {
            "emitted_tasks",
            "sink_checks",
            "mutes",
            "backfill_plans",
        }
        await migrate.downgrade(store, "-1")
        assert await migrate.current(store) == "0002"
        assert await _tables(store) == TABLES - {
            "event_types",
            "emitted_tasks",
            "sink_checks",
            "mutes",
            "backfill_plans",
        }
        await migrate.downgrade(store, "-1")
        assert await migrate.current(store) == "0001"
        assert "ix_activity_runs_activity_fire" not in await _run_indexes(store)
        await migrate.upgrade(store)
        assert await migrate.is_current(store)
        assert "ix_activity_runs_activity_fire" in await _run_indexes(store)
        await migrate.downgrade(store, "base")
        assert await _tables(store) == set()
        await migrate.upgrade(store)
        assert await _tables(store) == TABLES
    finally:
        await store.close()


async def test_models_match_the_migrations(store: Store) -> None:
    async with store.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
            )
        )
    assert diff == []


def test_history_lists_the_shipped_revisions() -> None:
    revisions = [r for r, _ in migrate.history()]
    assert revisions[-1] == migrate.head()
    assert len(revisions) == len(set(revisions))
