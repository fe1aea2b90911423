"""The API's door: a body is UTF-8 JSON with each key once, or a 4xx that says so; a bad
field is a 422 naming it (never a 503 blaming the database); Temporal down or busy is a
503 with Retry-After (never a 500)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from activity_core.api import create_app
from activity_core.settings import Settings
from tests.api.conftest import WRITE, ApiFactory
from tests.helpers import RestartableServer

BODY = {
    "name": "door",
    "handler": "static_report",
    "params": {"title": "t", "body": "b"},
    "trigger_config": {"trigger_type": "manual"},
}
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        ('{"name": "a", "name": "b", "handler": "static_report"}', ["body", "name"]),
        (
            '{"name": "a", "trigger_config": {"trigger_type": "manual", "trigger_type": "cron"}}',
            ["body", "trigger_config", "trigger_type"],
        ),
        (
            '{"name": "a", "sinks": [{"type": "x"}, {"name": 1, "name": 2}]}',
            ["body", "sinks", 1, "name"],
        ),
    ],
)
async def test_a_key_given_twice_is_a_422_at_its_path(
    api: httpx.AsyncClient, raw: str, loc: list[object]
) -> None:
    answer = await api.post("/activity-definitions/", content=raw.encode(), headers=JSON)
    assert answer.status_code == 422, answer.text
    (problem,) = answer.json()["detail"]
    assert problem["loc"] == loc and problem["type"] == "duplicate_key"
    assert (await api.get("/activity-definitions/a")).status_code == 404  # nothing written


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (json.dumps(BODY).encode("utf-16"), "application/json"),
        (b"\xef\xbb\xbf" + json.dumps(BODY).encode(), "application/json"),
        (
            json.dumps({**BODY, "description": "caf\u00e9"}, ensure_ascii=False).encode("latin-1"),
            "application/json",
        ),
        (json.dumps(BODY).encode(), "application/json; charset=latin-1"),
        (json.dumps(BODY).encode(), 'application/json; charset="utf-16"'),
    ],
)
async def test_a_body_that_is_not_utf8_json_is_refused_unread(
    api: httpx.AsyncClient, content: bytes, content_type: str
) -> None:
    answer = await api.post(
        "/activity-definitions/", content=content, headers={"Content-Type": content_type}
    )
    assert answer.status_code == 415, answer.text
    assert "UTF-8" in answer.json()["detail"]
    assert (await api.get("/activity-definitions/door")).status_code == 404


async def test_utf8_with_its_charset_named_is_welcome(api: httpx.AsyncClient) -> None:
    answer = await api.post(
        "/activity-definitions/",
        content=json.dumps({**BODY, "name": "door-utf8"}).encode(),
        headers={"Content-Type": "application/json; charset=UTF-8"},
    )
    assert answer.status_code == 201, answer.text
    await api.delete("/activity-definitions/door-utf8")


async def test_an_absurd_zone_is_a_422_on_the_field_not_a_database_outage(
    api: httpx.AsyncClient,
) -> None:
    for zone in ("Europe/" + "x" * 1000, "../../etc/passwd", "Europe/Berlin\x00"):
        body = {
            **BODY,
            "trigger_config": {
                "trigger_type": "cron",
                "cron_expression": "0 7 * * *",
                "misfire_policy": "skip",
                "timezone": zone,
            },
        }
        answer = await api.post("/activity-definitions/", json=body)
        assert answer.status_code == 422, answer.text
        (problem,) = answer.json()["detail"]
        assert problem["loc"][-1] == "timezone" and "IANA time zone" in problem["msg"]
        assert len(answer.text) < 1000


@pytest.mark.parametrize("trace_id", ["nothex", "0" * 32, "g" * 32, "4bf92f35" * 3])
async def test_an_event_trace_id_must_be_a_w3c_trace_id(
    api: httpx.AsyncClient, trace_id: str
) -> None:
    answer = await api.post(
        "/events/", json={"type": "user.created", "payload": {}, "trace_id": trace_id}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "trace_id"]


async def test_temporal_down_is_a_503_with_retry_after(
    api_factory: ApiFactory, tmp_path: Path
) -> None:
    server = RestartableServer(tmp_path / "temporal.db")
    client = await server.start()
    server.stop()
    app = create_app(
        Settings(home=tmp_path / "home", definitions_dir=tmp_path, api_token=WRITE),
        store=None,
        client=client,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", timeout=120
        ) as http:
            http.headers["Authorization"] = f"Bearer {WRITE}"
            for path in ("/status", "/deliveries/"):
                answer = await http.get(path)
                assert answer.status_code == 503, (path, answer.text)
                assert answer.headers["Retry-After"] == "5"
                assert "Temporal" in answer.json()["detail"]


async def test_if_match_with_another_definitions_etag_is_stale(api: httpx.AsyncClient) -> None:
    for name in ("etag-a", "etag-b"):
        created = await api.post("/activity-definitions/", json={**BODY, "name": name})
        assert created.status_code == 201, created.text
    other = (await api.get("/activity-definitions/etag-b")).headers["ETag"]
    own = (await api.get("/activity-definitions/etag-a")).headers["ETag"]
    assert other != own and other.endswith('-1"') and own.endswith('-1"')  # same version
    for method in ("PUT", "DELETE"):
        answer = await api.request(
            method,
            "/activity-definitions/etag-a",
            json={"description": "changed"} if method == "PUT" else None,
            headers={"If-Match": other},
        )
        assert answer.status_code == 412, (method, answer.text)
        assert "another definition" in answer.json()["detail"]
    kept = await api.get("/activity-definitions/etag-a")
    assert kept.headers["ETag"] == own and kept.json()["definition"]["description"] == ""
    changed = await api.put(
        "/activity-definitions/etag-a", json={"description": "changed"}, headers={"If-Match": own}
    )
    assert changed.status_code == 200, changed.text
    for name in ("etag-a", "etag-b"):
        await api.delete(f"/activity-definitions/{name}")
