"""A definition created through the API is a definition everywhere: the CLI, the API, the
run, the watchdog and the board find it as they find a file's; and after Temporal's
retention deleted a run, status, GET /status and the board answer as verify does."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.watchdog_judge import judge
from activity_core.catalog import Catalog
from activity_core.domain import WatchdogState, schedule_id
from tests.helpers import Stack, assert_eventually, running_stack

TOKEN = "write-token-0123456789"
MANUAL = {
    "handler": "static_report",
    "params": {"title": "onboarding", "body": "welcome"},
    "trigger_config": {"trigger_type": "manual"},
}


async def test_api_and_file_definitions_are_found_alike_by_every_face(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(env, env.client, tmp_path, default_queues=True) as stack:
        stack.define("from-file", params={"title": "file", "body": "from a file"})
        async with stack.api(TOKEN) as api:
            created = await api.post(
                "/activity-definitions/", json={**MANUAL, "name": "user-onboarding"}
            )
            assert created.status_code == 201, created.text
            for name in ("user-onboarding", "from-file"):
                got = await api.get(f"/activity-definitions/{name}")
                assert got.status_code == 200 and got.json()["degraded"] is None, got.text
                started = await api.post(f"/activity-definitions/{name}/trigger")
                assert started.status_code == 202, started.text
                run = stack.client.get_workflow_handle(started.json()["run_id"])
                assert (await run.result())["outcome"] == "ran"
        listed = await stack.actcore("definitions", "list", "--wide")
        assert listed.returncode == 0, listed.stderr
        origins = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
        assert " api " in origins["user-onboarding"] and " file " in origins["from-file"]
        assert listed.stderr == ""  # the registry answered: nothing degraded to say
        for name in ("user-onboarding", "from-file"):
            ran = await stack.actcore("trigger", name, "--wait", "--json")
            assert ran.returncode == 0, ran.stderr
            assert json.loads(ran.stdout)["outcome"] == "ran"
            verified = await stack.actcore("verify", name)
            assert verified.returncode == 0, verified.stdout + verified.stderr
            status = await stack.actcore("status", name, "--json")
            assert status.returncode == 0, status.stderr
            (row,) = json.loads(status.stdout)["on_demand"]
            assert row["name"] == name and row["verdict"] == "ok"
        for command in (
            ("trigger", "nope"),
            ("verify", "nope"),
            ("status", "nope"),
            ("runs", "list", "nope"),
            ("definitions", "preview", "nope"),
        ):
            missed = await stack.actcore(*command)
            assert missed.returncode == 2, (command, missed.stdout, missed.stderr)
            assert "no definition named 'nope' (known: " in missed.stderr, missed.stderr
            assert "user-onboarding" in missed.stderr and "from-file" in missed.stderr


async def test_a_file_that_was_never_imported_is_named_with_the_fix(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(env, env.client, tmp_path) as stack:
        stack.define("imported")
        (stack.definitions_dir / "later.yaml").write_text(
            "name: later\nhandler: static_report\ntrigger_config: {trigger_type: manual}\n"
        )
        missed = await stack.actcore("trigger", "later")
        assert missed.returncode == 2
        assert "later.yaml defines it but has not been imported" in missed.stderr
        assert "actcore sync" in missed.stderr


async def test_without_a_store_the_files_answer_and_every_command_says_so(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(
        env, env.client, tmp_path, db_url="none", default_queues=True
    ) as stack:
        stack.define("filed-only")
        ran = await stack.actcore("trigger", "filed-only", "--wait", "--json")
        assert ran.returncode == 0, ran.stderr
        assert json.loads(ran.stdout)["outcome"] == "ran"
        assert "note: the store is off (ACTCORE_DB_URL=none)" in ran.stderr
        runs = await stack.actcore("runs", "list")
        assert runs.returncode == 2 and "store is turned off" in runs.stderr


async def test_an_api_schedule_write_is_journaled_and_judged_by_it(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(env, env.client, tmp_path, default_queues=True) as stack:
        cron = {
            **MANUAL,
            "name": "api-cron",
            "trigger_config": {
                "trigger_type": "cron",
                "cron_expression": "0 7 * * *",
                "misfire_policy": "skip",
            },
        }
        async with stack.api(TOKEN) as api:
            created = await api.post("/activity-definitions/", json=cron)
            assert created.status_code == 201, created.text
            changed = await api.patch(
                "/activity-definitions/api-cron",
                json={
                    "trigger_config": {**cron["trigger_config"], "cron_expression": "30 7 * * *"}
                },
            )
            assert changed.status_code == 200, changed.text
        definition = await Catalog(stack.settings, stack.store).find("api-cron")
        journal = await stack.ledger.schedule_changes(schedule_id(definition))
        assert [e["action"] for e in journal] == ["create", "update"]
        assert "30 7" in json.dumps(journal[-1], default=str)
        plan = await judge(
            stack.client,
            stack.settings,
            names=["api-cron"],
            lookback_seconds=60,
            state=WatchdogState(),
            catalog=Catalog(stack.settings, stack.store),
        )
        (summary,) = plan.summaries
        assert summary.name == "api-cron" and summary.health == [], summary.health


async def _delete_runs(stack: Stack, name: str) -> None:
    """What Temporal's retention does: every execution of the definition is gone (the
    server deletes in the background: ask again for any still listed)."""
    query = f"ActivityName = '{name}'"

    async def gone() -> None:
        left = [ex async for ex in stack.client.list_workflows(query)]
        for ex in left:
            with contextlib.suppress(RPCError):  # already being deleted
                await stack.client.workflow_service.delete_workflow_execution(
                    DeleteWorkflowExecutionRequest(
                        namespace=stack.client.namespace,
                        workflow_execution=WorkflowExecution(workflow_id=ex.id, run_id=ex.run_id),
                    )
                )
        assert [ex.id for ex in left] == []

    await assert_eventually(gone, within=90, interval=1)


async def test_after_retention_status_api_and_board_answer_as_verify(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(env, env.client, tmp_path, default_queues=True) as stack:
        stack.define("kept")
        done = await stack.actcore("trigger", "kept", "--wait", "--json")
        assert done.returncode == 0, done.stderr
        run_id = json.loads(done.stdout)["run_id"]
        await _delete_runs(stack, "kept")
        verified = await stack.actcore("verify", "kept", "--json")
        assert verified.returncode == 0, verified.stdout
        run_check = next(c for c in json.loads(verified.stdout) if c["name"] == "run")
        assert run_check["status"] == "pass" and "(ledger)" in run_check["detail"]
        status = await stack.actcore("status", "kept")
        assert status.returncode == 0
        assert f"ok ({run_id})" in status.stdout, status.stdout
        async with stack.api(TOKEN) as api:
            body: dict[str, Any] = (await api.get("/status", params={"name": "kept"})).json()
            (row,) = body["on_demand"]
            assert row["verdict"] == "ok" and row["last_recorded_run"]["run_id"] == run_id
            board = (await api.get("/")).text
            assert 'data-name="kept"' in board
            assert '<span class="verdict good">ok</span>' in board, board
