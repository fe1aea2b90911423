"""A run's resolvers start together; once a required one has given up, the others are
cancelled and the "could not run" note follows at once (patch resolvers-in-parallel)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType

from activity_core.dev.statehub import StateHub
from activity_core.domain import RunOutcome
from tests.helpers import Stack

RESOLVE = "resolve_context"


async def _events(stack: Stack, run_id: str) -> list[Any]:
    handle = stack.client.get_workflow_handle(run_id)
    return [e async for e in handle.fetch_history_events()]


def _resolver_events(events: list[Any]) -> tuple[list[int], dict[int, tuple[int, int]]]:
    """Indexes of the resolvers' scheduled events, and for each the index and type of the
    first event that ended it (completed, failed or cancellation requested)."""
    scheduled = [
        i
        for i, e in enumerate(events)
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == RESOLVE
    ]
    ids = {events[i].event_id: i for i in scheduled}
    closed: dict[int, tuple[int, int]] = {}
    for n, e in enumerate(events):
        for attr in (
            "activity_task_completed_event_attributes",
            "activity_task_failed_event_attributes",
            "activity_task_cancel_requested_event_attributes",
        ):
            if e.HasField(attr):
                sid = getattr(e, attr).scheduled_event_id
                if sid in ids and ids[sid] not in closed:
                    closed[ids[sid]] = (n, e.event_type)
    return scheduled, closed


async def test_resolvers_start_together_and_the_context_keeps_their_order(
    stack: Stack,
) -> None:
    hub = StateHub(seed_demo=True).start()
    try:
        stack.define(
            "triage-parallel",
            handler="wsjf_triage",
            params={"top_n": 5},
            resolvers=[
                {"name": "work_items", "url": hub.url},
                {"name": "recently_on_scope", "required": False, "url": hub.url},
                {"name": "consistency_sweep", "required": False, "url": hub.url},
            ],
        )
        result = await stack.run("triage-parallel")
        assert result.outcome == RunOutcome.RAN
        note = Path(result.report_path or "").read_text()
        assert "## Top 5 overall" in note and "Loose ends (consistency sweep)" in note
        assert '"degraded": []' in note
        events = await _events(stack, result.run_id)
        scheduled, closed = _resolver_events(events)
        assert len(scheduled) == 3
        assert {t for _, t in closed.values()} == {EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED}
        assert max(scheduled) < min(n for n, _ in closed.values())  # all three, then answers
    finally:
        hub.stop()


async def test_a_required_resolver_that_gives_up_cancels_the_others_and_the_note_follows(
    stack: Stack, hub: StateHub
) -> None:
    slow_optional = {
        "required": False,
        "url": "http://127.0.0.1:9",
        "tries": 4,
        "timeout_seconds": 2,
    }
    stack.define(
        "triage-required-down",
        handler="wsjf_triage",
        resolvers=[
            {"name": "work_items", "url": hub.url, "tries": 1},
            {"name": "recently_on_scope", **slow_optional},
            {"name": "consistency_sweep", **slow_optional},
        ],
    )
    hub.set_fault("refuse")
    result = await stack.run("triage-required-down")
    assert result.outcome == RunOutcome.COULD_NOT_RUN
    note = Path(result.report_path or "").read_text()
    assert "resolver work_items unavailable" in note
    events = await _events(stack, result.run_id)
    scheduled, closed = _resolver_events(events)
    assert len(scheduled) == 3
    required, *optional = scheduled
    assert closed[required][1] == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
    # The optional ones never got to finish: the run asked for their cancellation first,
    # right after the required one gave up, and went on to its note.
    cancelled = [closed[i] for i in optional]
    assert [t for _, t in cancelled] == [EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED] * 2
    assert all(n > closed[required][0] for n, _ in cancelled)
    next_steps = [
        i
        for i, e in enumerate(events)
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name != RESOLVE
        and i > closed[required][0]
    ]
    assert next_steps, "nothing ran after the resolvers"
