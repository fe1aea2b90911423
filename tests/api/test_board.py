"""The status board: one row per definition, the watchdog's freshness, the ledger's runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import yaml
from temporalio.testing import WorkflowEnvironment

from activity_core.api import create_app
from activity_core.domain import RunRecord
from activity_core.loader import load_definitions
from activity_core.settings import Settings
from activity_core.store import Ledger, Store, migrate
from tests.api.conftest import WRITE, ApiFactory
from tests.helpers import fresh_namespace

BODY = {
    "name": "board-row",
    "handler": "static_report",
    "trigger_config": {
        "trigger_type": "interval",
        "every_seconds": 3600,
        "misfire_policy": "catchup_latest",
    },
}


async def test_board_lists_every_definition_and_says_the_watchdog_is_stale(
    api_factory: ApiFactory, env: WorkflowEnvironment
) -> None:
    # A namespace no watchdog has ever passed over (other tests' passes are on `default`).
    client = await fresh_namespace(env.client, "board-stale")
    async with api_factory(client=client) as api:
        api.headers["Authorization"] = f"Bearer {WRITE}"
        for name in ("board-row", "board-other"):
            created = await api.post("/activity-definitions/", json={**BODY, "name": name})
            assert created.status_code == 201, created.text
        page = await api.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        html = page.text
        assert 'data-name="board-row"' in html and 'data-name="board-other"' in html
        assert "catchup_latest" in html and "every 3600 s" in html
        assert "Watchdog stale" in html and "no pass yet" in html  # no pass has run here
        assert "not judged yet" in html and "none recorded" in html
        assert '<meta http-equiv="refresh"' in html and "<script" not in html
        detail = await api.get("/definitions/board-row")
        assert detail.status_code == 200 and "No runs recorded yet." in detail.text
        unknown = await api.get("/definitions/no-such-definition")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"].startswith("text/html")
        assert "no-such-definition" in unknown.text and 'href="/"' in unknown.text
        for name in ("board-row", "board-other"):
            await api.delete(f"/activity-definitions/{name}")


async def test_board_needs_a_token_unless_reads_are_open(api_factory: ApiFactory) -> None:
    async with api_factory(api_read_open=False) as http:
        assert (await http.get("/")).status_code == 401
    async with api_factory(api_read_open=True) as http:
        assert (await http.get("/")).status_code == 200


async def test_board_links_open_runs_in_the_clients_own_namespace(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A board on another namespace than `default` links to that namespace's Web UI pages."""
    client = await fresh_namespace(env.client, "board-ops")
    namespace = client.namespace
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'ns.db'}")
    await migrate.upgrade(store)
    defs = tmp_path / "definitions"
    defs.mkdir()
    body = BODY | {"name": "ns-row", "watch": {"objective": "90% delivered within 1h"}}
    (defs / "ns-row.yaml").write_text(yaml.safe_dump(body))
    definition = load_definitions(defs).by_name("ns-row")
    fire = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    run_id = f"activity-run-ns-row-{fire:%H%M%S}"
    await Ledger(store).record_runs(
        [
            RunRecord(
                run_id=run_id,
                activity_id=str(definition.id),
                activity_name="ns-row",
                state="completed",
                outcome="ran",
                scheduled_for=fire,
                started_at=fire,
                finished_at=fire + timedelta(seconds=5),
                updated_at=fire + timedelta(seconds=5),
            )
        ]
    )
    settings = Settings(
        home=tmp_path / ".actcore",
        definitions_dir=defs,
        working_memory_dir=tmp_path / "notes",
        api_read_open=True,
        web_ui_url="http://ui.example/",
    )
    wanted = f'href="http://ui.example/namespaces/{quote(namespace, safe="")}/workflows/{run_id}"'
    try:
        app = create_app(settings, store=store, client=client)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                board = await http.get("/")
                detail = await http.get("/definitions/ns-row")
    finally:
        await store.close()
    assert board.status_code == 200 and wanted in board.text
    assert detail.status_code == 200 and wanted in detail.text
    assert "/namespaces/default/" not in board.text + detail.text
    # The objective's budget, from the ledger: one run, no remote sink, on time.
    assert "objective 90% delivered within 1h: 100.0% over 30 days (1/1)" in board.text
