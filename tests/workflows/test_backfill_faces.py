"""Backfill as an operator drives it: the CLI's dry run, a stored plan approved once, the
run it starts (``RunTrigger=backfill``, its own nominal time, the fires it stands for) in
the ledger, a second plan that finds nothing to do, and the API's answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from activity_core.domain import search_attributes as sa
from tests.helpers import running_stack

TOKEN = "write-token-0123456789"
# Every minute, catchup_latest, and no schedule (never synced): the watchdog judges each
# fire of the last minutes missing ("schedule deleted"), with no wait.
LATEST = {
    "trigger_config": {
        "trigger_type": "cron",
        "cron_expression": "* * * * *",
        "timezone": "UTC",
        "misfire_policy": "catchup_latest",
    }
}


async def test_a_stored_plan_runs_the_latest_fire_once_for_the_range(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(env, env.client, tmp_path, default_queues=True) as stack:
        stack.define("minutely", **LATEST)
        now = datetime.now(UTC)
        since = (now - timedelta(minutes=5)).replace(second=30, microsecond=0)
        until = (now - timedelta(seconds=90)).isoformat()  # past "just due"
        span = ("--since", since.isoformat(), "--until", until)

        dry = await stack.actcore("backfill", "minutely", *span, "--dry-run", "--json")
        assert dry.returncode == 0, dry.stderr
        plan = json.loads(dry.stdout)
        fires = [datetime.fromisoformat(i["fire"]) for i in plan["items"]]
        verdicts = [i["verdict"] for i in plan["items"]]
        assert len(fires) >= 3 and set(verdicts) == {"missing"}, verdicts
        runs = [i for i in plan["items"] if i["action"] == "run"]
        assert [datetime.fromisoformat(i["fire"]) for i in runs] == [max(fires)]
        assert sorted(datetime.fromisoformat(c) for c in runs[0]["covers"]) == sorted(fires)[:-1]

        stored = await stack.actcore("backfill", "minutely", *span, "--plan-only")
        assert stored.returncode == 0, stored.stderr
        plan_id = stored.stdout.split("actcore backfill approve ")[-1].strip()
        assert "--every" in stored.stdout  # the text says why the earlier fires are left
        listed = await stack.actcore("backfill", "list")
        assert f"{plan_id}  planned" in listed.stdout
        assert await stack.client.count_workflows("RunTrigger = 'backfill'") is not None

        approved = await stack.actcore("backfill", "approve", plan_id)
        assert approved.returncode == 0, approved.stderr
        assert "starts 1 runs" in approved.stdout
        twice = await stack.actcore("backfill", "approve", plan_id)
        assert twice.returncode == 2 and "was already started" in twice.stderr

        run = stack.client.get_workflow_handle(runs[0]["run_id"])
        result = await run.result()
        assert result["outcome"] == "ran_as_latest" and result["trigger"] == "backfill"
        assert datetime.fromisoformat(result["scheduled_for"]) == max(fires)
        desc = await run.describe()
        assert desc.typed_search_attributes.get(sa.RUN_TRIGGER) == "backfill"
        rows = await stack.ledger.runs(activity_name="minutely")
        (row,) = rows
        assert (row.trigger, row.outcome, row.nominal_fire) == (
            "backfill",
            "ran_as_latest",
            max(fires),
        )
        assert sorted(row.covered_fires) == sorted(fires)

        again = await stack.actcore("backfill", "minutely", *span, "--dry-run")
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip().endswith(f"0 to run, {len(fires)} left alone"), again.stdout

        async with stack.api(TOKEN) as api:
            body = {"since": since.isoformat(), "until": until, "dry_run": True}
            got = await api.post("/activity-definitions/minutely/backfill", json=body)
            assert got.status_code == 200, got.text
            assert [i["action"] for i in got.json()["items"]] == ["leave"] * len(fires)
            bad = await api.post(
                "/activity-definitions/minutely/backfill",
                json={"since": (now + timedelta(hours=1)).isoformat()},
            )
            assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "since"]
            wrong = await api.post(
                "/activity-definitions/minutely/backfill",
                json={"since": since.isoformat(), "only": ["late"]},
            )
            assert wrong.status_code == 422 and "only" in wrong.json()["detail"][0]["loc"]
            stack.define("by-hand")  # a manual trigger: no fires
            manual = await api.post(
                "/activity-definitions/by-hand/backfill", json={"since": since.isoformat()}
            )
            assert manual.status_code == 422, manual.text
            assert manual.json()["detail"][0]["loc"] == ["path", "key"]
            assert "only cron and interval" in manual.json()["detail"][0]["msg"]
            unknown = await api.post(
                "/activity-definitions/nope/backfill", json={"since": since.isoformat()}
            )
            assert unknown.status_code == 404
            gone = await api.post("/backfills/0123456789ab/approve")
            assert gone.status_code == 404
            done = await api.post(f"/backfills/{plan_id}/approve")
            assert done.status_code == 409
            shown = await api.get(f"/backfills/{plan_id}")
            assert shown.status_code == 200 and shown.json()["state"] == "started"
            page = await api.get("/definitions/minutely")
            assert page.status_code == 200
            assert 'data-verdict="covered"' in page.text
            assert "No fire of the last 7 days needs a backfill" not in page.text  # older ones
