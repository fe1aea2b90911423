"""A SQLite file deleted (or replaced) under a running process: every read and write fails
loudly as the store being unavailable, and /health says db false, instead of writes going
to a deleted file and vanishing at exit."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from activity_core.api import create_app
from activity_core.catalog import Catalog
from activity_core.domain import ActivityDefinition
from activity_core.settings import Settings
from activity_core.store import Registry, Store, migrate
from activity_core.store.engine import StoreFileGone
from activity_core.store.errors import STORE_ERRORS

DEFINITION = {
    "name": "kept",
    "handler": "static_report",
    "params": {"title": "t", "body": "b"},
    "trigger_config": {"trigger_type": "manual"},
}


def _delete(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def _replace(db: Path) -> None:
    copy = db.with_name("copy.db")
    shutil.copy(db, copy)
    copy.replace(db)


@pytest.mark.parametrize("change", [_delete, _replace], ids=["deleted", "replaced"])
async def test_reads_and_writes_fail_loudly_once_the_file_is_gone(
    tmp_path: Path, change: object
) -> None:
    db = tmp_path / "actcore.db"
    store = Store(f"sqlite+aiosqlite:///{db}")
    await migrate.upgrade(store)
    registry = Registry(store)
    await registry.create(ActivityDefinition.model_validate(DEFINITION), "test")
    catalog = Catalog(Settings(definitions_dir=tmp_path), store)
    assert (await catalog.view()).names() == ["kept"]
    assert callable(change)
    change(db)
    try:
        assert issubclass(StoreFileGone, STORE_ERRORS)
        with pytest.raises(StoreFileGone, match="deleted or replaced"):
            await registry.all()
        second = {**DEFINITION, "name": "lost"}
        with pytest.raises(StoreFileGone):
            await registry.create(ActivityDefinition.model_validate(second), "test")
        view = await catalog.view()  # the last registry read, said to be degraded
        assert view.names() == ["kept"] and "as read at" in (view.degraded or "")
        app = create_app(Settings(home=tmp_path / "home", definitions_dir=tmp_path), store=store)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                health = await http.get("/health")
        assert health.status_code == 503 and health.json()["db"] is False
    finally:
        await store.close()
