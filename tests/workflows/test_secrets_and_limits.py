"""Tokens never reach logs or workflow histories; oversize reports are kept, not lost."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import WorkflowHandle, WorkflowHistory

from activities.notes import read_front_matter
from activity_core.dev.statehub import StateHub
from activity_core.domain import DeliveryState, DeliveryStatus, RunOutcome
from tests.helpers import Stack, assert_eventually

HUB_TOKEN = "hub-tok-7f3a9c1e5b"
INBOX_TOKEN = "inbox-tok-2d8e6a4f0c"


async def _history_text(stack: Stack, workflow_id: str) -> str:
    history: WorkflowHistory = await stack.client.get_workflow_handle(workflow_id).fetch_history()
    return history.to_json()


async def _dead(stack: Stack, child: WorkflowHandle[Any, Any]) -> DeliveryStatus:
    """The delivery's status once it is parked as dead."""

    async def parked() -> DeliveryStatus:
        status = await stack.status(child)
        assert status.state == DeliveryState.DEAD, status
        return status

    return await assert_eventually(parked, within=10)


async def test_tokens_appear_in_no_log_line_and_no_history(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token_file = tmp_path / "hub-token"
    token_file.write_text(HUB_TOKEN + "\n")
    stack.settings.state_hub_token_file = token_file  # the worker reads it per attempt
    monkeypatch.setenv("ACTCORE_SINK_TOKEN_INBOX", INBOX_TOKEN)
    hub = StateHub(token=HUB_TOKEN).start()
    inbox = StateHub(token=INBOX_TOKEN).start()
    monkeypatch.setenv("ACTCORE_SINK_ORIGIN_INBOX", inbox.url)
    stack.settings.state_hub_url = hub.url  # the hub token goes to this origin only
    try:
        stack.define(
            "secretive",
            sinks=[
                {"type": "state_hub_progress", "event_type": "s"},
                {
                    "type": "webhook",
                    "name": "inbox",
                    "url": f"{inbox.url}/progress/",
                    "secret": "inbox",
                },
            ],
        )
        result = await stack.run("secretive")
        for sink in ("state_hub", "inbox"):
            final = await stack.delivery(result.run_id, sink).result()
            assert final.state == DeliveryState.DELIVERED
        # Both sinks required their token and got it.
        assert len(hub.events()) == 1 and len(inbox.events()) == 1
        histories = [await _history_text(stack, result.run_id)] + [
            await _history_text(stack, f"delivery-{result.run_id}-{s}")
            for s in ("state_hub", "inbox")
        ]
    finally:
        hub.stop()
        inbox.stop()
    logged = "\n".join(r.getMessage() + " " + str(r.__dict__) for r in caplog.records)
    assert caplog.records, "expected some log lines to search"
    for token in (HUB_TOKEN, INBOX_TOKEN):
        assert token not in logged
        for text in histories:
            assert token not in text


async def test_wrong_token_is_a_permanent_failure_not_a_loss(stack: Stack) -> None:
    hub = StateHub(token="expected").start()
    try:
        stack.define(
            "wrong-token", sinks=[{"type": "state_hub_progress", "event_type": "s", "url": hub.url}]
        )
        result = await stack.run("wrong-token")
        assert result.outcome == RunOutcome.RAN  # the report is safe on disk
        child = stack.delivery(result.run_id, "state_hub")
        status = await _dead(stack, child)
        assert status.last_error is not None and status.last_error.startswith("HTTP 401")
    finally:
        hub.stop()


async def test_oversize_report_is_kept_whole_on_disk_and_announced(stack: Stack) -> None:
    stack.settings.max_report_bytes = 4096
    stack.define("big", params={"title": "Big", "body": "x" * 20_000})
    result = await stack.run("big")
    assert result.outcome == RunOutcome.RAN
    note = Path(result.report_path or "")
    text = note.read_text()
    assert "report too large" in text and "ACTCORE_MAX_REPORT_BYTES=4096" in text
    (full,) = (stack.working_memory / "oversize").glob("big-*-full.md")
    assert "x" * 20_000 in full.read_text()
    assert read_front_matter(full)["activity_core_run_id"] == result.run_id
    assert str(full) in text


async def test_a_sink_echoing_the_token_leaks_it_nowhere(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hub = StateHub(token=HUB_TOKEN).start()
    stack.settings.state_hub_url = hub.url
    stack.settings.state_hub_token = SecretStr(HUB_TOKEN)
    try:
        hub.set_fault("echo")  # answers 400 with every request header in the body
        stack.define("echoed", sinks=[{"type": "state_hub_progress", "event_type": "e"}])
        result = await stack.run("echoed")
        child = stack.delivery(result.run_id, "state_hub")
        status = await _dead(stack, child)
        assert hub.stats.counts["fault_echo"] == 1  # the sink did see the token
        shown = status.last_error or ""
        assert shown.startswith("HTTP 400") and "[redacted]" in shown

        async def noted() -> None:
            assert stack.alert_notes(), "a dead delivery leaves an alert note"

        await assert_eventually(noted)
        texts = [
            shown,
            await _history_text(stack, result.run_id),
            await _history_text(stack, child.id),
            *(p.read_text() for p in stack.alert_notes()),
            "\n".join(r.getMessage() + " " + str(r.__dict__) for r in caplog.records),
        ]
    finally:
        stack.settings.state_hub_token = None
        hub.stop()
    for text in texts:
        assert HUB_TOKEN not in text
