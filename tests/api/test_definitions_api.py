"""Definitions through the REST API: the old runbook's bodies, validation like a file,
schedules synced before the answer, optimistic concurrency, files read-only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import yaml
from temporalio.testing import WorkflowEnvironment

from activity_core.domain import ActivityDefinition, build_schedule
from activity_core.domain.constants import ORCHESTRATOR_TQ, TASK_EXECUTION_TQ
from activity_core.settings import Settings
from activity_core.store import Store
from activity_core.worker import build_workers
from tests.api.conftest import ApiFactory

RUNBOOK_BODY = {
    "name": "weekday-standup-digest",
    "handler": "activity_digest",
    "trigger_config": {
        "trigger_type": "cron",
        "cron_expression": "0 9 * * 1-5",
        "timezone": "Europe/Berlin",
        "misfire_policy": "skip",
    },
}


async def test_the_runbook_body_creates_a_definition_and_its_schedule(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    created = await api.post("/activity-definitions/", json=RUNBOOK_BODY)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "weekday-standup-digest" and body["origin"] == "api"
    assert body["version"] == 1 and created.headers["ETag"] == f'"{body["id"]}-1"'
    assert created.headers["Location"] == f"/activity-definitions/{body['id']}"
    schedule = await env.client.get_schedule_handle(f"activity-schedule-{body['id']}").describe()
    desired = build_schedule(ActivityDefinition.model_validate(RUNBOOK_BODY))
    assert desired.fingerprint in (schedule.schedule.state.note or "")
    assert schedule.schedule.spec.time_zone_name == "Europe/Berlin"
    assert not schedule.schedule.state.paused

    by_name = await api.get("/activity-definitions/weekday-standup-digest")
    by_id = await api.get(f"/activity-definitions/{body['id']}")
    assert by_name.json() == by_id.json() == body

    # The old API's partial PUT: {"enabled": false} alone pauses the schedule.
    paused = await api.put(f"/activity-definitions/{body['id']}", json={"enabled": False})
    assert paused.status_code == 200, paused.text
    assert paused.json()["version"] == 2 and paused.json()["definition"]["enabled"] is False
    assert paused.json()["definition"]["handler"] == "activity_digest"  # the rest is kept
    schedule = await env.client.get_schedule_handle(f"activity-schedule-{body['id']}").describe()
    assert schedule.schedule.state.paused

    again = await api.post("/activity-definitions/", json=RUNBOOK_BODY)
    assert again.status_code == 409 and "exists already" in again.json()["detail"]

    gone = await api.delete(f"/activity-definitions/{body['id']}")
    assert gone.status_code == 204
    assert (await api.get(f"/activity-definitions/{body['id']}")).status_code == 404
    schedules = [s.id async for s in await env.client.list_schedules()]
    assert f"activity-schedule-{body['id']}" not in schedules


async def test_an_invalid_body_is_422_naming_the_field_and_the_fix(api: httpx.AsyncClient) -> None:
    bad = {**RUNBOOK_BODY, "name": "bad-cron"}
    bad["trigger_config"] = {**RUNBOOK_BODY["trigger_config"], "cron_expression": "0 9 * *"}  # type: ignore[dict-item]
    answer = await api.post("/activity-definitions/", json=bad)
    assert answer.status_code == 422
    [problem] = answer.json()["detail"]
    assert problem["loc"] == ["body", "trigger_config", "cron_expression"]
    assert "five-field cron expression" in problem["msg"] and "20 7 * * *" in problem["msg"]

    nameless = await api.post("/activity-definitions/", json={"handler": "static_report"})
    locs = [p["loc"] for p in nameless.json()["detail"]]
    assert ["body", "name"] in locs and ["body", "trigger_config"] in locs

    unknown = await api.post(
        "/activity-definitions/", json={**RUNBOOK_BODY, "name": "x", "handler": "nope"}
    )
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "handler"]
    assert "known:" in unknown.json()["detail"][0]["msg"]

    listed = await api.get("/activity-definitions/")
    assert [d["name"] for d in listed.json()] == []  # nothing was stored


async def test_if_match_guards_against_lost_updates(api: httpx.AsyncClient) -> None:
    body = {**RUNBOOK_BODY, "name": "guarded"}
    created = await api.post("/activity-definitions/", json=body)
    etag = created.headers["ETag"]
    first = await api.patch(
        "/activity-definitions/guarded", json={"description": "one"}, headers={"If-Match": etag}
    )
    assert first.status_code == 200 and first.headers["ETag"] != etag
    stale = await api.patch(
        "/activity-definitions/guarded", json={"description": "two"}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412 and "version 2, not 1" in stale.json()["detail"]
    junk = await api.patch(
        "/activity-definitions/guarded", json={"description": "x"}, headers={"If-Match": "abc"}
    )
    assert junk.status_code == 400
    current = await api.get("/activity-definitions/guarded")
    assert current.json()["definition"]["description"] == "one"
    await api.delete("/activity-definitions/guarded")


async def test_a_files_definition_is_read_only_here(
    api_factory: ApiFactory, tmp_path: Path
) -> None:
    body = {**RUNBOOK_BODY, "name": "from-a-file", "trigger_config": {"trigger_type": "manual"}}
    (tmp_path / "definitions" / "from-a-file.yaml").write_text(yaml.safe_dump(body))
    from activity_core.loader import load_definitions
    from activity_core.store import Registry

    loaded = load_definitions(tmp_path / "definitions")
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    await Registry(store).import_files(loaded.definitions, loaded.sources, "test")
    await store.close()
    async with api_factory() as http:
        http.headers["Authorization"] = "Bearer write-token-0123456789"
        listed = await http.get("/activity-definitions/")
        assert [(d["name"], d["origin"]) for d in listed.json()] == [("from-a-file", "file")]
        refused = await http.put("/activity-definitions/from-a-file", json={"enabled": False})
        assert refused.status_code == 409
        assert "edit the file" in refused.json()["detail"]
        assert (await http.delete("/activity-definitions/from-a-file")).status_code == 409


async def test_trigger_starts_a_run_the_ledger_then_lists(
    api: httpx.AsyncClient, env: WorkflowEnvironment, tmp_path: Path
) -> None:
    body = {
        "name": "api-triggered",
        "handler": "static_report",
        "params": {"title": "t", "body": "triggered"},
        "trigger_config": {"trigger_type": "manual"},
    }
    assert (await api.post("/activity-definitions/", json=body)).status_code == 201
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    settings = Settings(
        definitions_dir=tmp_path / "definitions", working_memory_dir=tmp_path / "notes"
    )
    workers = build_workers(
        env.client,
        settings,
        workflow_task_queue=ORCHESTRATOR_TQ,
        activity_task_queue=TASK_EXECUTION_TQ,
        store=store,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(workers.run_until(stop))
    try:
        answer = await api.post("/activity-definitions/api-triggered/trigger")
        assert answer.status_code == 202
        run_id = answer.json()["run_id"]
        assert answer.json()["web_ui"] == f"http://ui.example/namespaces/default/workflows/{run_id}"
        result = await env.client.get_workflow_handle(run_id).result()
        assert result["outcome"] == "ran"
    finally:
        stop.set()
        await task
        await store.close()
    run = await api.get(f"/runs/{run_id}")
    assert run.status_code == 200 and run.json()["outcome"] == "ran"
    listed = await api.get("/runs/", params={"activity": "api-triggered"})
    assert [r["run_id"] for r in listed.json()] == [run_id]
    assert (await api.get("/runs/no-such-run")).status_code == 404


async def test_an_api_definition_is_watched_like_a_file(api: httpx.AsyncClient) -> None:
    body = {
        "name": "api-watched",
        "handler": "static_report",
        "trigger_config": {
            "trigger_type": "interval",
            "every_seconds": 3600,
            "misfire_policy": "skip",
        },
    }
    created = await api.post("/activity-definitions/", json=body)
    assert created.status_code == 201, created.text
    status = await api.get("/status", params={"name": "api-watched"})
    assert status.status_code == 200, status.text
    [row] = status.json()["definitions"]
    assert (row["name"], row["policy"], row["enabled"]) == ("api-watched", "skip", True)
    assert row["health"] == []  # its schedule exists and matches
    await api.delete("/activity-definitions/api-watched")


async def test_a_body_aiming_at_internal_hosts_or_borrowing_a_variable_is_422(
    api: httpx.AsyncClient,
) -> None:
    def hooked(**sink: str) -> dict[str, object]:
        return {
            **RUNBOOK_BODY,
            "name": "hooked",
            "sinks": [{"type": "webhook", "name": "inbox", **sink}],
        }

    cases = {
        "http://0xA9FEA9FE/": "169.254.169.254 written another way",
        "http://[::ffff:169.254.169.254]/": "link-local",
        "http://metadata.google.internal/": "cloud metadata service",
        "http://10.1.2.3/hook": "ACTCORE_EGRESS_ALLOW",
    }
    for url, why in cases.items():
        answer = await api.post("/activity-definitions/", json=hooked(url=url))
        assert answer.status_code == 422, (url, answer.text)
        [problem] = answer.json()["detail"]
        assert problem["loc"] == ["body", "sinks", 0, "url"] and why in problem["msg"], problem
    borrowed = await api.post(
        "/activity-definitions/",
        json=hooked(url="https://inbox.example/h", token_env="AWS_SECRET_ACCESS_KEY"),
    )
    assert borrowed.status_code == 422
    [problem] = borrowed.json()["detail"]
    assert problem["loc"] == ["body", "sinks", 0, "token_env"]
    assert (
        "not a sink secret" in problem["msg"]
        and "secret: aws_secret_access_key" in (problem["msg"])
    )
    assert (await api.get("/activity-definitions/hooked")).status_code == 404
    named = await api.post(
        "/activity-definitions/", json=hooked(url="https://inbox.example/h", secret="inbox")
    )
    assert named.status_code == 201, named.text
