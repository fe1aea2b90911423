"""The status board: one row per definition, the watchdog's freshness, the ledger's runs."""

from __future__ import annotations

import httpx

from tests.api.conftest import ApiFactory

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
    api: httpx.AsyncClient,
) -> None:
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
