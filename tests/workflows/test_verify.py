"""actcore verify: passes when today's run happened and arrived; fails with the reason."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import (
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleOverlapPolicy,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from activity_core.dev.statehub import StateHub
from activity_core.domain import RunInput
from activity_core.domain import search_attributes as sa
from activity_core.domain.constants import ACTIVITY_RUN_WORKFLOW
from activity_core.domain.schedule_spec import build_schedule, schedule_id
from activity_core.loader import load_definitions
from activity_core.services.registry import sync
from activity_core.services.schedules import sync_schedules
from activity_core.services.verify import Check, verdict, verify
from tests.helpers import Stack, assert_eventually, fresh_namespace


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


async def test_verify_passes_after_a_delivered_run(stack: Stack, hub: StateHub) -> None:
    stack.define(
        "verified",
        sinks=[{"type": "state_hub_progress", "event_type": "v", "url": hub.url}],
    )
    result = await stack.run("verified")
    await stack.delivery(result.run_id, "state_hub").result()
    definition = load_definitions(stack.definitions_dir).by_name("verified")

    async def all_pass() -> list[Check]:
        checks = await verify(stack.client, stack.settings, definition, datetime.now(UTC).date())
        by = _by_name(checks)
        assert by["run"].status == "pass", by["run"]
        assert {c.status for c in checks} <= {"pass", "skip"}, checks
        return checks

    checks = await assert_eventually(all_pass, within=15)
    by = _by_name(checks)
    assert by["schedule"].status == "skip"  # manual trigger
    assert result.run_id in by["run"].detail
    assert by["note"].detail == result.report_path
    assert "with the run id" in by["sink:state_hub"].detail


async def test_verify_fails_precisely_while_the_delivery_waits(stack: Stack, hub: StateHub) -> None:
    stack.define(
        "unverified",
        sinks=[{"type": "state_hub_progress", "event_type": "v", "url": hub.url}],
    )
    hub.set_fault("refuse")
    with stack.env.with_time_skipping_disabled():
        result = await (await stack.start_run("unverified")).result()
    definition = load_definitions(stack.definitions_dir).by_name("unverified")

    async def sink_fails() -> Check:
        checks = _by_name(
            await verify(stack.client, stack.settings, definition, datetime.now(UTC).date())
        )
        assert checks["run"].status == "pass"
        sink = checks["sink:state_hub"]
        assert sink.status == "fail" and sink.detail.startswith("delivery waiting:")
        return sink

    sink = await assert_eventually(sink_fails, within=15)
    assert "attempt 1 failed (connection refused)" in sink.detail
    assert "next attempt" in sink.detail
    assert result.run_id  # the report itself is safe
    other_day = _by_name(
        await verify(stack.client, stack.settings, definition, datetime(2020, 1, 1).date())
    )
    assert other_day["run"].status == "fail"
    assert "no run with ScheduledFor on 2020-01-01" in other_day["run"].detail


async def test_verify_reports_a_missing_or_paused_schedule(stack: Stack) -> None:
    stack.define(
        "scheduled",
        trigger_config={
            "trigger_type": "cron",
            "cron_expression": "0 4 * * *",
            "timezone": "Europe/Berlin",
            "misfire_policy": "skip",
        },
    )
    definition = load_definitions(stack.definitions_dir).by_name("scheduled")
    today = datetime.now(UTC).date()
    missing = _by_name(await verify(stack.client, stack.settings, definition, today))
    assert missing["schedule"].status == "fail" and "not found" in missing["schedule"].detail
    await sync_schedules(stack.client, [definition], prune=False)
    handle = stack.client.get_schedule_handle(schedule_id(definition))
    try:
        ok = _by_name(await verify(stack.client, stack.settings, definition, today))
        assert ok["schedule"].status == "pass"
        await handle.pause()
        paused = _by_name(await verify(stack.client, stack.settings, definition, today))
        assert paused["schedule"].status == "fail"
        assert "paused but the definition is enabled" in paused["schedule"].detail
    finally:
        await handle.delete()


async def test_verify_reads_the_ledger_after_temporal_has_forgotten_the_run(
    stack: Stack, hub: StateHub
) -> None:
    stack.define(
        "remembered",
        sinks=[{"type": "state_hub_progress", "event_type": "r", "url": hub.url}],
    )
    result = await stack.run("remembered")
    await stack.delivery(result.run_id, "state_hub").result()

    async def delivered_in_ledger() -> None:
        rows = await stack.ledger.deliveries(result.run_id)
        assert [r.state for r in rows] == ["delivered"]

    await assert_eventually(delivered_in_ledger)
    # Temporal has forgotten the run (as after the namespace's retention): a namespace
    # that never saw it answers for Temporal; the hub is away too.
    forgetful = await fresh_namespace(stack.client, "forgotten")
    hub.set_fault("refuse")
    definition = load_definitions(stack.definitions_dir).by_name("remembered")
    today = datetime.now(UTC).date()

    async def forgotten() -> None:
        by = _by_name(await verify(forgetful, stack.settings, definition, today))
        assert by["run"].status == "fail" and "no run" in by["run"].detail

    await assert_eventually(forgotten, within=30)
    by = _by_name(await verify(forgetful, stack.settings, definition, today, stack.ledger))
    assert (by["run"].status, by["run"].detail) == (
        "pass",
        f"{result.run_id} completed (ledger)",
    )
    assert (by["outcome"].status, by["outcome"].detail) == ("pass", "ran")
    assert by["note"].status == "pass"
    assert by["sink:state_hub"].status == "pass"
    assert by["sink:state_hub"].detail.endswith("(ledger)")


async def test_verify_counts_only_the_run_that_answers_the_days_fire(
    stack: Stack, hub: StateHub
) -> None:
    fire = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)
    day = fire.date()
    stack.define(
        "answers-its-fire",
        trigger_config={
            "trigger_type": "cron",
            "cron_expression": f"{fire.minute} {fire.hour} * * *",
            "timezone": "UTC",
            "misfire_policy": "catchup_all",
        },
        sinks=[{"type": "state_hub_progress", "event_type": "fire", "url": hub.url}],
    )
    definition = load_definitions(stack.definitions_dir).by_name("answers-its-fire")
    # The schedule as sync writes it, pointed at this test's worker.
    desired = build_schedule(definition)
    action = desired.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    desired.schedule.action = dataclasses.replace(
        action,
        task_queue=stack.workflow_tq,
        args=[
            RunInput(
                activity_id=str(definition.id),
                activity_name=definition.name,
                trigger="schedule",
                activity_task_queue=stack.activity_tq,
            )
        ],
    )
    handle = await stack.client.create_schedule(desired.schedule_id, desired.schedule)
    try:
        # Before the day's fire: not due yet, whatever else happened that day.
        early = await verify(
            stack.client, stack.settings, definition, day, now=fire - timedelta(minutes=5)
        )
        assert verdict(early) == "not_due"
        assert f"the first fire is at {fire:%Y-%m-%d %H:%M} UTC" in _by_name(early)["run"].detail

        # A manual run does not answer the fire.
        manual = await stack.run("answers-its-fire")
        await stack.delivery(manual.run_id, "state_hub").result()
        missed = _by_name(await verify(stack.client, stack.settings, definition, day))
        assert missed["run"].status == "fail"
        assert f"no scheduled run for the {fire:%Y-%m-%d %H:%M} UTC fire" in missed["run"].detail
        cli = await stack.actcore("verify", "answers-its-fire", "--date", day.isoformat())
        assert cli.returncode == 1, cli.stdout + cli.stderr
        assert "FAILED" in cli.stdout

        # Just after the fire, a run not yet visible is not a failure yet.
        soon = await verify(
            stack.client, stack.settings, definition, day, now=fire + timedelta(seconds=10)
        )
        assert verdict(soon) == "not_due"

        # The schedule's own run for that fire (the server starts it for that fire time).
        await handle.backfill(
            ScheduleBackfill(
                start_at=fire - timedelta(seconds=1),
                end_at=fire + timedelta(seconds=1),
                overlap=ScheduleOverlapPolicy.ALLOW_ALL,
            )
        )

        async def answered() -> list[Check]:
            checks = await verify(stack.client, stack.settings, definition, day)
            assert verdict(checks) == "pass", checks
            return checks

        by = _by_name(await assert_eventually(answered, within=30))
        assert manual.run_id not in by["run"].detail
        assert by["sink:state_hub"].status == "pass"
        ok = await stack.actcore("verify", "answers-its-fire", "--date", day.isoformat())
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "ok: the run happened and arrived" in ok.stdout

        tomorrow = await stack.actcore(
            "verify", "answers-its-fire", "--date", str(day + timedelta(days=1))
        )
        assert tomorrow.returncode == 3, tomorrow.stdout + tomorrow.stderr
        assert "not due yet" in tomorrow.stdout
    finally:
        await handle.delete()


async def test_verify_on_a_day_without_a_fire_has_nothing_to_check(stack: Stack) -> None:
    stack.define(
        "mondays-only",
        trigger_config={
            "trigger_type": "cron",
            "cron_expression": "0 4 * * 1",
            "timezone": "Europe/Berlin",
            "misfire_policy": "skip",
        },
    )
    definition = load_definitions(stack.definitions_dir).by_name("mondays-only")
    tuesday = datetime(2026, 11, 24).date()
    checks = _by_name(await verify(stack.client, stack.settings, definition, tuesday))
    assert checks["run"].status == "skip"
    assert checks["run"].detail == "no fire on 2026-11-24 (Europe/Berlin): nothing was due"
    monday = await verify(stack.client, stack.settings, definition, datetime(2026, 11, 23).date())
    assert _by_name(monday)["run"].status == "fail"  # it was due, and no run answered it
    assert verdict(monday) == "fail"


async def test_a_fire_before_the_schedule_was_first_written_was_not_owed(stack: Stack) -> None:
    fire = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)
    stack.define(
        "created-late",
        trigger_config={
            "trigger_type": "cron",
            "cron_expression": f"{fire.minute} {fire.hour} * * *",
            "timezone": "UTC",
            "misfire_policy": "skip",
        },
    )
    loaded = load_definitions(stack.definitions_dir)
    quiet = stack.settings.model_copy(update={"watchdog_interval_seconds": 0})
    await sync(stack.client, quiet, stack.store, loaded, who="test", prune=False)
    definition = loaded.by_name("created-late")
    try:
        day = fire.date()
        checked = await stack.actcore("verify", "created-late", "--date", day.isoformat())
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f"no fire owed on {day}: the schedule was created at" in checked.stdout
        # Without the journal (the ledger off) nothing says when it was written: a fail.
        blind = _by_name(await verify(stack.client, stack.settings, definition, day))
        assert blind["run"].status == "fail"
    finally:
        await stack.client.get_schedule_handle(schedule_id(definition)).delete()


async def test_a_fire_skipped_as_an_overlap_is_explained_not_left_due(stack: Stack) -> None:
    """A past fire that the server skipped behind a run still open at its time never gets
    a run of its own: under ``skip`` verify fails at once and says why, under
    ``catchup_latest`` it waits only while the blocking run may still stand for it."""
    every = 10
    now = datetime.now(UTC)
    fire = datetime.fromtimestamp((int(now.timestamp()) + 3) // every * every + every, UTC)
    blockers = []
    for name, policy, decided in (
        ("overlap-skip", "skip", True),
        ("overlap-latest-waiting", "catchup_latest", False),
        ("overlap-latest-busy", "catchup_latest", True),
    ):
        stack.define(
            name,
            trigger_config={
                "trigger_type": "interval",
                "every_seconds": every,
                "misfire_policy": policy,
            },
        )
        definition = load_definitions(stack.definitions_dir).by_name(name)
        pairs: list[SearchAttributePair[Any]] = [
            SearchAttributePair(sa.ACTIVITY_ID, str(definition.id)),
            SearchAttributePair(sa.ACTIVITY_NAME, name),
            SearchAttributePair(sa.SCHEDULED_BY_ID, schedule_id(definition)),
        ]
        if decided:  # its guard ran: it runs for the previous fire, not as the latest
            pairs.append(SearchAttributePair(sa.SCHEDULED_FOR, fire - timedelta(seconds=every)))
        # The previous fire's run, open across the fire (no worker polls its queue).
        handle = await stack.client.start_workflow(
            ACTIVITY_RUN_WORKFLOW,
            RunInput(activity_id=str(definition.id), activity_name=name, trigger="schedule"),
            id=f"activity-run-{name}-{uuid.uuid4().hex[:6]}",
            task_queue=f"nobody-{uuid.uuid4().hex[:6]}",
            search_attributes=TypedSearchAttributes(pairs),
        )
        blockers.append((definition, handle))
    # A manual run open across the fire is no overlap: the schedule does not count it.
    manual = await stack.client.start_workflow(
        ACTIVITY_RUN_WORKFLOW,
        RunInput(activity_name="overlap-skip", trigger="manual"),
        id=f"activity-run-overlap-skip-manual-{uuid.uuid4().hex[:6]}",
        task_queue=f"nobody-{uuid.uuid4().hex[:6]}",
        search_attributes=sa.definition_attributes(str(blockers[0][0].id), "overlap-skip"),
    )
    await asyncio.sleep((fire - datetime.now(UTC)).total_seconds() + 1)
    try:
        at = fire + timedelta(seconds=2)  # well inside the 60 s grace
        label = f"the {fire:%Y-%m-%d %H:%M} UTC fire was skipped as an overlap behind run"
        checks = [
            _by_name(await verify(stack.client, stack.settings, d, fire.date(), now=at))["run"]
            for d, _ in blockers
        ]
        skip, waiting, busy = checks
        assert skip.status == "fail", skip
        assert f"{label} {blockers[0][1].id} (still open)" in skip.detail
        assert "it will not run (misfire policy skip)" in skip.detail
        assert manual.id not in skip.detail
        assert waiting.status == "not_due", waiting
        assert "has not started yet: under catchup_latest it runs once" in waiting.detail
        assert busy.status == "fail", busy
        assert "nothing runs for it until the next regular fire" in busy.detail
        # Closed after the fire, the blocker still explains it.
        await blockers[0][1].terminate("test")
        closed = _by_name(
            await verify(stack.client, stack.settings, blockers[0][0], fire.date(), now=at)
        )["run"]
        assert closed.status == "fail" and "open at the fire time" in closed.detail
    finally:
        for _, handle in blockers[1:]:
            await handle.terminate("test")
        await manual.terminate("test")
