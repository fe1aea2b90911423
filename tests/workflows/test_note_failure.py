"""A working-memory note that cannot be written (a full or broken disk) does not keep the
report from its remote sinks: the run hands it over from its history, stays open with the
reason in its details, and writes the note once the disk is back."""

from __future__ import annotations

import shutil
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus

from activities.watchdog_judge import judge
from activity_core.catalog import Catalog
from activity_core.dev.statehub import StateHub
from activity_core.domain import RunOutcome, RunResult, WatchdogState
from tests.helpers import Stack, assert_eventually, run_steps


async def test_unwritable_note_still_delivers_then_writes_when_the_disk_is_back(
    stack: Stack, hub: StateHub
) -> None:
    stack.define(
        "diskless",
        trigger_config={
            "trigger_type": "interval",
            "every_seconds": 3600,
            "misfire_policy": "skip",
        },
        sinks=[{"type": "state_hub_progress", "event_type": "diskless", "url": hub.url}],
    )
    memory: Path = stack.working_memory
    shutil.rmtree(memory, ignore_errors=True)
    memory.write_text("a file where the notes directory should be")  # every write fails

    handle = await stack.start_run("diskless")

    async def delivered() -> None:
        events = hub.events("diskless")
        assert len(events) == 1, events

    await assert_eventually(delivered, within=60)
    assert "not written yet" in str(hub.events("diskless")[0])
    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.RUNNING

    async def says_why() -> None:
        current = await handle.query("__temporal_workflow_metadata")
        assert "note not written" in current.current_details, current.current_details

    await assert_eventually(says_why, within=30)

    async def status_says_why() -> None:
        # Within one watchdog pass (and so in `actcore status`), not after max_runtime.
        plan = await judge(
            stack.client,
            stack.settings,
            names=["diskless"],
            lookback_seconds=600,
            state=WatchdogState(),
            catalog=Catalog(stack.settings, stack.store),
        )
        (summary,) = plan.summaries
        failing = [h for h in summary.health if "persist_note failing (attempt" in h]
        assert failing and handle.id in failing[0], summary.health

    await assert_eventually(status_says_why, within=60, interval=1)

    memory.unlink()
    memory.mkdir()
    result: RunResult = await handle.result()
    assert result.outcome == RunOutcome.RAN
    assert result.note_status == "written"
    assert result.report_path is not None and Path(result.report_path).exists()
    assert len(hub.events("diskless")) == 1  # delivered once, not again
    # The handler ran once: its activity reported the failed note instead of failing (a
    # retry would have run the handler again); the run then retried the note alone.
    remote, _ = await run_steps(handle)
    assert remote.count("run_handler_and_note") == 1
    assert remote[1:] and set(remote[1:]) == {"persist_note"}
