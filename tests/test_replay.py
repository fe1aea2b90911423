"""Replay recorded histories so a change that would break running workflows fails CI.

Re-record (only when a change is *meant* to be incompatible, with a patch/version
strategy for running executions) with::

    ACTCORE_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/test_replay.py -k record
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from activity_core.statehub import StateHub
from tests.conftest import Stack, assert_eventually
from workflows.registry import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
RECORD = os.environ.get("ACTCORE_RECORD_HISTORIES") == "1"


def _recorded() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


async def _save(handle: WorkflowHandle, name: str, run_id: str | None = None) -> None:  # type: ignore[type-arg]
    target = handle._client.get_workflow_handle(handle.id, run_id=run_id)
    history = await target.fetch_history()
    record = {"workflow_id": handle.id, "history": json.loads(history.to_json())}
    (HISTORIES / f"{name}.json").write_text(json.dumps(record, indent=1))


def test_histories_are_recorded_for_each_long_lived_workflow() -> None:
    names = {p.stem for p in _recorded()}
    assert {
        "activity_run_two_sinks",
        "delivery_full_lifecycle",
        "delivery_continued_as_new",
    } <= names


@pytest.mark.parametrize("path", _recorded(), ids=lambda p: p.stem)
async def test_replay(path: Path) -> None:
    from temporalio.client import WorkflowHistory

    record = json.loads(path.read_text())
    history = WorkflowHistory.from_json(record["workflow_id"], record["history"])
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
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
