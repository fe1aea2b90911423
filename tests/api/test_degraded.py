"""When the registry cannot answer, the API still reads (the definitions directory, or its
last registry read) and says so in every answer: a ``degraded`` field and a header."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activity_core.api import create_app
from activity_core.api.routes_definitions import DEGRADED_HEADER
from activity_core.settings import Settings
from activity_core.store import Store, migrate
from tests.api.conftest import WRITE

BODY = {
    "handler": "static_report",
    "params": {"title": "t", "body": "b"},
    "trigger_config": {"trigger_type": "manual"},
}


async def test_store_off_answers_from_the_files_and_says_so(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    defs = tmp_path / "definitions"
    defs.mkdir()
    (defs / "on-disk.yaml").write_text(yaml.safe_dump({**BODY, "name": "on-disk"}))
    settings = Settings(
        home=tmp_path / "home", definitions_dir=defs, db_url=SecretStr("none"), api_token=WRITE
    )
    app = create_app(settings, client=env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            http.headers["Authorization"] = f"Bearer {WRITE}"
            listed = await http.get("/activity-definitions/")
            assert listed.status_code == 200
            assert "ACTCORE_DB_URL=none" in listed.headers[DEGRADED_HEADER]
            (row,) = listed.json()
            assert row["name"] == "on-disk" and "ACTCORE_DB_URL=none" in row["degraded"]
            one = await http.get("/activity-definitions/on-disk")
            assert one.status_code == 200 and DEGRADED_HEADER in one.headers
            write = await http.post("/activity-definitions/", json={**BODY, "name": "new"})
            assert write.status_code == 503, write.text  # writes need the registry


async def test_a_registry_that_stops_answering_serves_its_last_read(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    store = Store(f"sqlite+aiosqlite:///{db_dir / 'api.db'}")
    await migrate.upgrade(store)
    settings = Settings(home=tmp_path / "home", definitions_dir=tmp_path, api_token=WRITE)
    app = create_app(settings, store=store, client=env.client)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                http.headers["Authorization"] = f"Bearer {WRITE}"
                made = await http.post("/activity-definitions/", json={**BODY, "name": "kept"})
                assert made.status_code == 201, made.text
                fresh = await http.get("/activity-definitions/")
                assert DEGRADED_HEADER not in fresh.headers
                assert fresh.json()[0]["degraded"] is None
                await store.close()
                db_dir.rename(tmp_path / "db-gone")
                stale = await http.get("/activity-definitions/")
                assert stale.status_code == 200, stale.text
                assert [r["name"] for r in stale.json()] == ["kept"]
                assert "as read at" in stale.headers[DEGRADED_HEADER]
                write = await http.post("/activity-definitions/", json={**BODY, "name": "x"})
                assert write.status_code == 503, write.text
    finally:
        await store.close()
