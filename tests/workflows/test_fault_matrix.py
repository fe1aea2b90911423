"""Every reference-hub fault mode, for the State Hub and the webhook sink: the expected end
state and attempt pattern, and never a lost or doubled report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from activities.notes import read_front_matter
from activity_core.dev.statehub import StateHub
from activity_core.domain import DeliveryState, RunOutcome
from tests.helpers import Stack, assert_eventually


@dataclass(frozen=True)
class Case:
    fault: str
    end: DeliveryState  # state after the first attempt
    error: str | None = None  # start of last_error
    retry_after: int | None = None
    stored: int = 0  # events stored by the first attempt


CASES = [
    Case("refuse", DeliveryState.WAITING, "connection refused"),
    Case("500", DeliveryState.WAITING, "HTTP 500"),
    Case("503", DeliveryState.WAITING, "HTTP 503", retry_after=600),
    Case("429", DeliveryState.WAITING, "HTTP 429", retry_after=900),
    Case("slow", DeliveryState.WAITING, "timed out"),
    Case("400", DeliveryState.DEAD, "HTTP 400"),
    Case("409", DeliveryState.DELIVERED),
    Case("malformed", DeliveryState.DELIVERED),
    Case("echo", DeliveryState.DEAD, "HTTP 400"),
]
#: State Hub answers every store with the stored event as JSON: a 200 that is not JSON
#: (a proxy's page) is not a delivery there. A webhook may answer anything.
HUB_ONLY = {"malformed": Case("malformed", DeliveryState.WAITING, "HTTP 200 but the answer")}
SINKS = ["state_hub_progress", "webhook"]


def _sink(kind: str, hub: StateHub) -> dict[str, object]:
    if kind == "webhook":
        return {"type": "webhook", "name": "inbox", "url": f"{hub.url}/progress/"}
    return {"type": "state_hub_progress", "name": "inbox", "event_type": "matrix", "url": hub.url}


@pytest.mark.parametrize("sink", SINKS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.fault)
async def test_fault(stack: Stack, hub: StateHub, case: Case, sink: str) -> None:
    if sink == "state_hub_progress":
        case = HUB_ONLY.get(case.fault, case)
    stack.define("matrix", sinks=[_sink(sink, hub)])
    hub.set_fault(case.fault, retry_after=case.retry_after, delay=3.0)
    with stack.env.with_time_skipping_disabled():
        result = await (await stack.start_run("matrix")).result()
    # Whatever the sink does, the run completed and its report is on disk.
    assert result.outcome == RunOutcome.RAN
    assert (
        read_front_matter(__import__("pathlib").Path(result.report_path or ""))[
            "activity_core_run_id"
        ]
        == result.run_id
    )
    child = stack.delivery(result.run_id, "inbox")
    started = (await child.describe()).start_time

    async def settled() -> None:
        status = await stack.status(child)
        assert status.state == case.end, status
        if case.end == DeliveryState.DEAD:
            assert stack.alert_notes()

    await assert_eventually(settled, within=20)
    status = await stack.status(child)
    assert status.attempts == 1
    if case.error:
        assert status.last_error is not None and status.last_error.startswith(case.error)
    if case.end == DeliveryState.DELIVERED:
        assert hub.events() == []  # the sink said it has it; nothing was stored by us
        return
    if case.retry_after is not None:
        assert status.next_attempt_at is not None
        assert status.next_attempt_at - started >= timedelta(seconds=case.retry_after)
    if case.end == DeliveryState.DEAD:
        # Parked: no automatic attempt, however long we wait.
        await stack.env.fast_forward(child, timedelta(days=8))
        assert (await stack.status(child)).attempts == 1
    hub.set_fault("none")
    await child.signal("retry_now")
    final = await child.result()
    assert final.state == DeliveryState.DELIVERED
    assert final.attempts == 2
    events = hub.events()
    assert len(events) == 1
    assert events[0]["detail"]["activity_core_run_id"] == result.run_id
    assert events[0]["idempotency_key"] == f"{result.run_id}:inbox"
