"""Backfill after an outage, in real time: the plan names exactly the fires the watchdog
judged missing, each policy holds, each such fire runs once with its own nominal time,
and a second backfill of the same range starts nothing.

The outage: every schedule paused for a few fires. ``skip`` and ``catchup_all`` fires are
missing; the first ``catchup_latest`` run after it stands for the fires it dropped, so
there is nothing to backfill for it (its plan leaves them, ``covered``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from activity_core.catalog import Catalog
from activity_core.domain import search_attributes as sa
from activity_core.domain.backfill import DEFAULT_ONLY, BackfillResult, plan_lines
from activity_core.domain.schedule_spec import schedule_id
from activity_core.loader import load_definitions
from activity_core.services.backfill import plan_backfill, start_plan
from tests.helpers import assert_eventually
from tests.realtime.test_watchdog import INTERVAL_S, Watched

pytestmark = pytest.mark.timeout(240)


def _add(w: Watched, name: str, policy: str) -> None:
    body = yaml.safe_load((w.settings.definitions_dir / "wd-demo.yaml").read_text())
    body["name"] = name
    body["trigger_config"]["misfire_policy"] = policy
    (w.settings.definitions_dir / f"{name}.yaml").write_text(yaml.safe_dump(body))


async def test_backfill_runs_each_missing_fire_once_as_its_policy_says(tmp_path: Path) -> None:
    w = Watched(tmp_path, misfire_policy="skip")
    await w.start_server()
    try:
        await _scenario(w)
    finally:
        await w.close()


async def _scenario(w: Watched) -> None:
    client = w.client
    assert client is not None
    _add(w, "wd-all", "catchup_all")
    _add(w, "wd-latest", "catchup_latest")
    w.definitions = load_definitions(w.settings.definitions_dir).definitions
    by_name = {d.name: d for d in w.definitions}
    since = datetime.now(UTC)
    w.start_runs()
    w.start_watchdog()
    await w.sync()
    await asyncio.sleep(INTERVAL_S * 2)
    # The outage: no schedule acts for three or four fires.
    handles = [client.get_schedule_handle(schedule_id(d)) for d in w.definitions]
    for h in handles:
        await h.pause(note="outage")
    await asyncio.sleep(INTERVAL_S * 3 + 1)
    for h in handles:
        await h.unpause(note="back")
    await asyncio.sleep(INTERVAL_S + 1)

    async def judged() -> dict[str, list[datetime]]:
        result = await w.watchdog_pass()
        missing = {
            s.name: sorted(v.fire for v in s.problems if v.kind.value in ("missing", "failed"))
            for s in result.summaries
        }
        assert len(missing["wd-demo"]) >= 3 and len(missing["wd-all"]) >= 3, missing
        assert missing["wd-latest"] == [], missing
        covered = next(s for s in result.summaries if s.name == "wd-latest").counts
        assert covered.get("covered", 0) >= 3, covered
        return missing

    missing = await assert_eventually(judged, within=40, interval=1)
    until = max(f for fires in missing.values() for f in fires) + timedelta(seconds=1)
    catalog = Catalog(w.settings, None)
    plan = await plan_backfill(
        client,
        catalog,
        names=[],
        since=since,
        until=until,
        only=DEFAULT_ONLY,
        who="test",
        dry_run=True,
    )
    print("\n" + "\n".join(plan_lines(plan)))
    runs = {n: [i for i in plan.to_run if i.definition == n] for n in by_name}
    # skip and catchup_all: exactly the fires the watchdog judged missing, each its own run.
    for name in ("wd-demo", "wd-all"):
        assert [i.fire for i in runs[name]] == missing[name], name
    assert runs["wd-latest"] == []
    assert all(i.action == "leave" for i in plan.items if i.verdict in ("ok", "late", "covered"))

    started = plan.model_copy(update={"state": "started"})
    handle = await start_plan(client, w.settings, started)
    assert handle is not None
    result = BackfillResult.model_validate(await handle.result())
    assert sorted(result.started) == sorted(i.run_id for i in plan.to_run if i.run_id)
    assert result.already == []

    async def ran() -> list[tuple[str, datetime | None, str | None]]:
        found = [
            (
                ex.id,
                ex.typed_search_attributes.get(sa.SCHEDULED_FOR),
                ex.typed_search_attributes.get(sa.RUN_OUTCOME),
            )
            async for ex in client.list_workflows(
                "RunTrigger = 'backfill' AND ExecutionStatus = 'Completed'"
            )
        ]
        assert len(found) == len(plan.to_run)
        return found

    done = await assert_eventually(ran, within=60, interval=0.5)
    fire_of = {i.run_id: i.fire for i in plan.to_run}
    for run_id, scheduled_for, outcome in done:
        assert scheduled_for == fire_of[run_id]  # each with its own nominal time
        assert outcome == "ran", (run_id, outcome)

    # The watchdog now judges those fires run (or covered); nothing is left to backfill.
    async def repaired() -> None:
        after = await w.watchdog_pass()
        for s in after.summaries:
            left = [v.fire for v in s.problems if v.kind.value == "missing" and v.fire < until]
            assert left == [], (s.name, left)

    await assert_eventually(repaired, within=30, interval=1)
    again = await plan_backfill(
        client, catalog, names=[], since=since, until=until, only=DEFAULT_ONLY, who="test"
    )
    assert again.to_run == [], "\n".join(plan_lines(again))
    # Even the same runs started once more (another plan) start nothing: the ids are taken.
    twice = plan.model_copy(update={"plan_id": "0123456789ab", "state": "started"})
    second = await start_plan(client, w.settings, twice)
    assert second is not None
    repeat = BackfillResult.model_validate(await second.result())
    assert repeat.started == [] and sorted(repeat.already) == sorted(result.started)
