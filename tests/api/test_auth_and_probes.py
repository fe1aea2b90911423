"""Who may read and write, request limits, and the health probes."""

from __future__ import annotations

import httpx

from activity_core.store import Store
from tests.api.conftest import READ, WRITE, ApiFactory

BODY = {
    "name": "auth-probe",
    "handler": "static_report",
    "trigger_config": {"trigger_type": "manual"},
}


async def test_writes_need_a_write_token(api_factory: ApiFactory) -> None:
    async with api_factory() as http:
        missing = await http.post("/activity-definitions/", json=BODY)
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        wrong = await http.post(
            "/activity-definitions/", json=BODY, headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401
        reader = await http.post(
            "/activity-definitions/", json=BODY, headers={"Authorization": f"Bearer {READ}"}
        )
        assert reader.status_code == 403
        assert WRITE not in missing.text + wrong.text + reader.text


async def test_rotation_two_write_tokens_both_work(api_factory: ApiFactory) -> None:
    async with api_factory(api_token=f"{WRITE},new-token-abcdefghij") as http:
        for token, name in ((WRITE, "rot-old"), ("new-token-abcdefghij", "rot-new")):
            answer = await http.post(
                "/activity-definitions/",
                json={**BODY, "name": name},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 201, answer.text
            assert answer.json()["created_by"] == "api (token)"


async def test_reads_open_only_when_told(api_factory: ApiFactory) -> None:
    async with api_factory(api_read_open=False) as closed:
        assert (await closed.get("/activity-definitions/")).status_code == 401
        ok = await closed.get("/activity-definitions/", headers={"Authorization": f"Bearer {READ}"})
        assert ok.status_code == 200
    async with api_factory(api_read_open=True) as open_:
        assert (await open_.get("/activity-definitions/")).status_code == 200
        assert (await open_.post("/activity-definitions/", json=BODY)).status_code == 401


async def test_no_write_token_configured_means_no_writes(api_factory: ApiFactory) -> None:
    async with api_factory(api_token=None, api_read_open=True) as http:
        refused = await http.post(
            "/activity-definitions/", json=BODY, headers={"Authorization": "Bearer anything"}
        )
        assert refused.status_code == 401 and "ACTCORE_API_TOKEN" in refused.json()["detail"]


async def test_a_body_over_the_limit_is_413(api_factory: ApiFactory) -> None:
    async with api_factory(api_max_body_bytes=2048) as http:
        big = {**BODY, "description": "x" * 5000}
        answer = await http.post(
            "/activity-definitions/", json=big, headers={"Authorization": f"Bearer {WRITE}"}
        )
        assert answer.status_code == 413


async def test_health_names_the_parts(api: httpx.AsyncClient) -> None:
    health = await api.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "db": True, "temporal": True}
    ready = await api.get("/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True, "problems": []}
    readyz = await api.get("/readyz")
    assert readyz.status_code == 200
    assert readyz.json() == {
        "role": "api",
        "ready": True,
        "draining": False,
        "checks": {"temporal": "ok", "database": "ok"},
    }
    assert (await api.get("/healthz")).json()["alive"] is True
    schema = (await api.get("/openapi.json")).json()
    assert "/activity-definitions/" in schema["paths"] and "/health" in schema["paths"]


async def test_health_is_503_when_the_database_is_away(api_factory: ApiFactory) -> None:
    away = Store("postgresql+asyncpg://actcore:secret-pw@127.0.0.1:9/actcore")
    async with api_factory(away) as http:
        health = await http.get("/health")
        assert health.status_code == 503
        assert health.json() == {"status": "degraded", "db": False, "temporal": True}
        ready = await http.get("/ready")
        assert ready.status_code == 503 and "database unavailable" in ready.json()["problems"][0]
        readyz = await http.get("/readyz")
        assert readyz.status_code == 503
        assert readyz.json()["checks"]["database"].startswith("failed (")
        assert "secret-pw" not in readyz.text
        assert (await http.get("/healthz")).status_code == 200  # alive, only not ready
        runs = await http.get("/runs/", headers={"Authorization": f"Bearer {READ}"})
        assert runs.status_code == 503 and "secret-pw" not in runs.text
    await away.close()
