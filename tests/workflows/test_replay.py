"""Replay recorded histories so a change that would break running workflows fails CI.

Re-record (only when a change is *meant* to be incompatible, with a patch/version
strategy for running executions) with::

    ACTCORE_RECORD_HISTORIES=1 ACTCORE_HISTORY_SUFFIX=_<shape> \
        .venv/bin/python -m pytest tests/workflows/test_replay.py -k record
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activity_core.dev.statehub import StateHub
from activity_core.domain import StateHubProgressSink
from activity_core.domain.report import monitor_id
from activity_core.domain.schedule_spec import build_schedule
from activity_core.loader import load_definitions
from activity_core.sandbox import workflow_runner
from activity_core.settings import Settings
from activity_core.worker import build_workers
from tests.helpers import Stack, assert_eventually
from workflows.registry import ALL_WORKFLOWS

HISTORIES = Path(__file__).parents[1] / "histories"
RECORD = os.environ.get("ACTCORE_RECORD_HISTORIES") == "1"
SUFFIX = os.environ.get("ACTCORE_HISTORY_SUFFIX", "")
"""Record a new shape beside the old ones (e.g. ``_ledger``): old histories stay, so the
patches that keep them replaying stay tested."""


def _recorded() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


async def _save(handle: WorkflowHandle, name: str, run_id: str | None = None) -> None:  # type: ignore[type-arg]
    target = handle._client.get_workflow_handle(handle.id, run_id=run_id)
    history = await target.fetch_history()
    record = {"workflow_id": handle.id, "history": json.loads(history.to_json())}
    (HISTORIES / f"{name}{SUFFIX}.json").write_text(json.dumps(record, indent=1))


def test_histories_are_recorded_for_each_long_lived_workflow() -> None:
    names = {p.stem for p in _recorded()}
    assert {
        "activity_run_two_sinks",
        "delivery_full_lifecycle",
        "delivery_continued_as_new",
        "delivery_with_monitor",
        "sink_monitor",
        "watchdog_pass",
        # The same workflows after the ledger writes were added (patch "ledger-records").
        "activity_run_two_sinks_ledger",
        "delivery_full_lifecycle_ledger",
        "delivery_with_monitor_ledger",
        # A run handing its tasks to an issue sink (patch "task-emission"), and the filing.
        "activity_run_with_tasks",
        "delivery_filing_tasks",
        # The monitor that wakes only on a recovery it saw (patch "monitor-wakes-on-real-...").
        "sink_monitor_transition",
        "delivery_with_monitor_transition",
        # Attempts on the sink's own queue (patch "attempts-on-the-sink-queue").
        "delivery_full_lifecycle_sink_queue",
        "delivery_continued_as_new_sink_queue",
        "delivery_filing_tasks_sink_queue",
        # The handler's activity writes the note (patch "handler-writes-its-note").
        "activity_run_two_sinks_handler_note",
        "activity_run_scheduled_on_time_handler_note",
        "activity_run_with_tasks_handler_note",
        # Failed attempts fail their activity (patch "failed-attempts-fail").
        "delivery_full_lifecycle_attempts_fail",
        "delivery_continued_as_new_attempts_fail",
        "delivery_filing_tasks_attempts_fail",
        "delivery_with_monitor_attempts_fail",
        # The monitor carrying the sink's state (patch "monitor-carries-sink-state").
        "sink_monitor_known_state",
        # Repair: a backfill plan, its run, a recover, the delivery it woke.
        "backfill_plan",
        "activity_run_backfill",
        "delivery_recover",
        "delivery_recovered",
        # Three resolvers one after another, then together (patch "resolvers-in-parallel").
        "activity_run_resolvers_answering",
        "activity_run_resolvers_refusing",
        "activity_run_resolvers_answering_parallel",
        "activity_run_resolvers_refusing_parallel",
    } <= names


@pytest.mark.parametrize("fast", [True, False], ids=["fast-sandbox", "sdk-sandbox"])
@pytest.mark.parametrize("path", _recorded(), ids=lambda p: p.stem)
async def test_replay(path: Path, fast: bool) -> None:
    """Every recorded history replays, under the workers' runner and the SDK's own."""
    from temporalio.client import WorkflowHistory

    record = json.loads(path.read_text())
    history = WorkflowHistory.from_json(record["workflow_id"], record["history"])
    replayer = Replayer(
        workflows=ALL_WORKFLOWS,
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(fast=fast),
    )
    await replayer.replay_workflow(history)


@pytest.mark.skipif(not RECORD, reason="set ACTCORE_RECORD_HISTORIES=1 to re-record")
async def test_record(stack: Stack, hub: StateHub) -> None:
    HISTORIES.mkdir(exist_ok=True)
    sinks = [
        {"type": "working_memory"},
        {"type": "state_hub_progress", "event_type": "daily_digest", "url": hub.url},
        {"type": "webhook", "name": "inbox", "url": f"{hub.url}/progress/"},
    ]
    stack.define("recorded", sinks=sinks)

    # Parent with two remote sinks; the hub refuses so the children start waiting.
    hub.set_fault("refuse")
    with stack.env.with_time_skipping_disabled():
        parent = await stack.start_run("recorded", run_id="recorded-run")
        result = await parent.result()
    await _save(parent, "activity_run_two_sinks")

    # Continue-as-new: the webhook delivery through a day of outage (first run of the chain).
    inbox = stack.delivery(result.run_id, "inbox")
    first_run = (await inbox.describe()).run_id
    await stack.env.fast_forward(inbox, timedelta(days=1))
    assert (await inbox.describe()).run_id != first_run
    await _save(inbox, "delivery_continued_as_new", run_id=first_run)

    # Delivery: waits, is woken by retry_now, goes dead on 400, revived, delivered.
    child = stack.delivery(result.run_id, "state_hub")
    await stack.env.fast_forward(child, timedelta(hours=1))
    before = (await stack.status(child)).attempts
    await child.signal("retry_now")

    async def attempts_at_least(n: int) -> None:
        assert (await stack.status(child)).attempts >= n

    await assert_eventually(lambda: attempts_at_least(before + 1))
    hub.set_fault("400")
    await child.signal("retry_now")

    async def dead() -> None:
        assert (await stack.status(child)).state.value == "dead"

    await assert_eventually(dead)
    hub.set_fault("none")
    await child.signal("retry_now")
    await child.result()
    await _save(child, "delivery_full_lifecycle")
    await inbox.signal("retry_now")
    await inbox.result()


@pytest.mark.skipif(not RECORD, reason="set ACTCORE_RECORD_HISTORIES=1 to re-record")
async def test_record_scheduled_runs(env: WorkflowEnvironment, tmp_path: Path) -> None:
    """A schedule-started run on time (guard: ran) and one after the worker was down
    (guard: skipped_missed), on the default task queues."""
    defs = tmp_path / "definitions"
    defs.mkdir()
    body = {
        "name": "recorded-schedule",
        "handler": "static_report",
        "trigger_config": {
            "trigger_type": "interval",
            "every_seconds": 3,
            "misfire_policy": "skip",
            "catchup_window_seconds": 10,
        },
    }
    (defs / "d.yaml").write_text(yaml.safe_dump(body))
    settings = Settings(definitions_dir=defs, working_memory_dir=tmp_path / "notes")
    definition = load_definitions(defs).definitions[0]
    client = env.client
    desired = build_schedule(definition)
    handle = await client.create_schedule(desired.schedule_id, desired.schedule)

    async def run_for(outcome: str) -> str:
        async for ex in client.list_workflows(
            f"ActivityId = '{definition.id}' AND RunOutcome = '{outcome}'"
        ):
            return ex.id
        raise AssertionError(f"no {outcome} run yet")

    try:
        workers = build_workers(client, settings)
        stop = asyncio.Event()
        task = asyncio.create_task(workers.run_until(stop))
        on_time = await assert_eventually(lambda: run_for("ran"), within=30)
        stop.set()
        await task
        await asyncio.sleep(14)  # worker down: the next fire waits beyond its grace
        workers = build_workers(client, settings)
        stop = asyncio.Event()
        task = asyncio.create_task(workers.run_until(stop))
        skipped = await assert_eventually(lambda: run_for("skipped_missed"), within=30)
        await handle.pause()
        stop.set()
        await task
    finally:
        await handle.delete()
    await _save(client.get_workflow_handle(on_time), "activity_run_scheduled_on_time")
    await _save(client.get_workflow_handle(skipped), "activity_run_scheduled_skipped")


@pytest.mark.skipif(not RECORD, reason="set ACTCORE_RECORD_HISTORIES=1 to re-record")
async def test_record_monitor(stack: Stack, hub: StateHub) -> None:
    """A delivery registered with its sink monitor, and the monitor that woke it.

    Recorded separately so the histories from before the monitor existed stay as they
    are and keep checking that the patch replays them unchanged.
    """
    sink = {"type": "state_hub_progress", "event_type": "m", "url": hub.url}
    stack.define("recorded-monitor", sinks=[sink], delivery={"backoff_seconds": [3600]})
    hub.set_fault("refuse")
    with stack.env.with_time_skipping_disabled():
        result = await (await stack.start_run("recorded-monitor", run_id="recorded-mon")).result()
        child = stack.delivery(result.run_id, "state_hub")
        monitor_handle = stack.client.get_workflow_handle(
            monitor_id(StateHubProgressSink(type="state_hub_progress", event_type="m", url=hub.url))
        )

        async def registered() -> None:
            try:
                waiting = await monitor_handle.query("waiting")
            except RPCError as err:  # not started yet
                raise AssertionError(str(err)) from err
            assert waiting == [child.id]

        await assert_eventually(registered, within=20)
        hub.set_fault("none")
        await child.result()
        await asyncio.wait_for(monitor_handle.result(), 60)
    await _save(child, "delivery_with_monitor")
    await _save(monitor_handle, "sink_monitor")


@pytest.mark.skipif(not RECORD, reason="set ACTCORE_RECORD_HISTORIES=1 to re-record")
async def test_record_watchdog_pass(stack: Stack, hub: StateHub) -> None:
    """A watchdog pass that raises an alert (note plus a delivery child) and pings."""
    from activity_core.domain import WatchdogInput
    from workflows.watchdog import MissedFireWatchdogWorkflow

    stack.define(
        "recorded-watched",
        trigger_config={"trigger_type": "interval", "every_seconds": 60, "misfire_policy": "skip"},
    )
    settings = stack.settings.model_copy(update={"state_hub_url": hub.url})
    queue = f"{stack.workflow_tq}-watchdog"
    workers = build_workers(stack.client, settings, runs=False, watchdog_task_queue=queue)
    stop = asyncio.Event()
    task = asyncio.create_task(workers.run_until(stop))
    try:
        with stack.env.with_time_skipping_disabled():
            handle = await stack.client.start_workflow(
                MissedFireWatchdogWorkflow.run,
                WatchdogInput(names=["recorded-watched"], lookback_seconds=600),
                id="recorded-watchdog-pass",
                task_queue=queue,
            )
            result = await handle.result()
        assert result.raised, "the pass should raise the missing-schedule alert"
    finally:
        stop.set()
        await task
    await _save(handle, "watchdog_pass")


@pytest.mark.skipif(not RECORD, reason="set ACTCORE_RECORD_HISTORIES=1 to re-record")
async def test_record_task_filing(stack: Stack, hub: StateHub) -> None:
    """A run whose report carries tasks (patch "task-emission") and its filing delivery:
    a failure after two of four tasks, then the rest on retry_now."""
    tasks = [{"key": f"stale:t-{n}", "title": f"Review t-{n}"} for n in range(4)]
    stack.define(
        "recorded-tasks",
        params={"title": "t", "body": "b", "tasks": tasks},
        sinks=[{"type": "issue", "backend": "issue_core", "url": hub.url}],
    )
    hub.set_fault("503", after=2, path="/issues", retry_after=3600)
    with stack.env.with_time_skipping_disabled():
        parent = await stack.start_run("recorded-tasks", run_id="recorded-tasks-run")
        result = await parent.result()
        child = stack.delivery(result.run_id, "issues")

        async def waiting() -> None:
            status = await stack.status(child)
            assert (status.state.value, status.items_done) == ("waiting", 2)

        await assert_eventually(waiting)
        hub.set_fault("none")
        await child.signal("retry_now")
        await child.result()
    await _save(parent, "activity_run_with_tasks")
    await _save(child, "delivery_filing_tasks")


@pytest.mark.skipif(not RECORD, reason="set ACTCORE_RECORD_HISTORIES=1 to re-record")
@pytest.mark.parametrize("hub_up", [True, False], ids=["answering", "refusing"])
async def test_record_resolvers(stack: Stack, hub: StateHub, hub_up: bool) -> None:
    """A run with one required and two optional resolvers, the hub answering (a full
    context) and refusing (the required one gives up: a "could not run" report)."""
    resolvers = [
        {"name": "work_items", "required": True, "url": hub.url, "tries": 2},
        {"name": "recently_on_scope", "required": False, "url": hub.url, "tries": 2},
        {"name": "consistency_sweep", "required": False, "url": hub.url, "tries": 2},
    ]
    name = f"recorded-resolvers-{'up' if hub_up else 'down'}"
    stack.define(name, resolvers=resolvers)
    hub.set_fault("none" if hub_up else "refuse")
    with stack.env.with_time_skipping_disabled():
        parent = await stack.start_run(name, run_id=f"{name}-run")
        await parent.result()
    await _save(parent, f"activity_run_resolvers_{'answering' if hub_up else 'refusing'}")


@pytest.mark.skipif(not RECORD, reason="set ACTCORE_RECORD_HISTORIES=1 to re-record")
async def test_record_repair(stack: Stack, hub: StateHub) -> None:
    """A backfill plan starting one run that stands for two fires, that run, a delivery
    that went dead, the recover that woke it and the delivery after it."""
    from activity_core.domain.backfill import BackfillInput, BackfillStart
    from activity_core.domain.recover import RecoverInput
    from workflows.repair import BackfillWorkflow, DeliveryRecoverWorkflow

    stack.define(
        "recorded-backfill",
        trigger_config={
            "trigger_type": "cron",
            "cron_expression": "0 7 * * *",
            "timezone": "UTC",
            "misfire_policy": "catchup_latest",
        },
        sinks=[{"type": "state_hub_progress", "event_type": "r", "url": hub.url}],
    )
    hub.set_fault("400")
    fire = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
    run_id = "backfill-recorded-20261203T070000Z"
    with stack.env.with_time_skipping_disabled():
        plan = await stack.client.start_workflow(
            BackfillWorkflow.run,
            BackfillInput(
                plan_id="recorded",
                runs=[
                    BackfillStart(
                        activity_id="",
                        activity_name="recorded-backfill",
                        fire=fire,
                        run_id=run_id,
                        covers=[fire - timedelta(days=1)],
                    )
                ],
                rate_per_second=2,
                run_task_queue=stack.workflow_tq,
                activity_task_queue=stack.activity_tq,
            ),
            id="backfill-plan-recorded",
            task_queue=stack.workflow_tq,
        )
        await plan.result()
        run = stack.client.get_workflow_handle(run_id)
        await run.result()
        delivery = stack.delivery(run_id, "state_hub")

        async def dead() -> None:
            assert (await stack.status(delivery)).state == "dead"

        await assert_eventually(dead, within=30, interval=0.2)
        recover = await stack.client.start_workflow(
            DeliveryRecoverWorkflow.run,
            RecoverInput(
                recover_id="recorded",
                delivery_ids=[delivery.id],
                sinks=["state_hub"],
                since=fire,
                until=datetime.now(UTC),
                rate_per_second=5,
                settle_seconds=10,
                activity_task_queue=stack.activity_tq,
            ),
            id="recover-recorded",
            task_queue=stack.workflow_tq,
        )
        await recover.result()
        hub.set_fault("none")
        await delivery.signal("retry_now")
        await delivery.result()
    await _save(plan, "backfill_plan")
    await _save(run, "activity_run_backfill")
    await _save(recover, "delivery_recover")
    await _save(delivery, "delivery_recovered")
