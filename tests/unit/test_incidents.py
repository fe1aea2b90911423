"""Incidents by cause on constructed passes: one page for a task queue no worker polls,
the definitions' own alerts joined to it, one recovery notice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from activity_core.domain import WatchdogState, advance, classify
from activity_core.domain.alert_text import what_to_do
from activity_core.domain.watchdog import DefinitionStatus, Severity
from tests.unit.test_watchdog_judge import fire, run, seen

QUEUE = "orchestrator-tq"


def _waiting(name: str, n: int) -> DefinitionStatus:
    unclaimed: dict[str, Any] = {
        "status": "running",
        "outcome": None,
        "closed_at": None,
        "unclaimed_since": fire(0),
        "task_queue": QUEUE,
    }
    obs = seen(n, [run(0, **unclaimed)], activity_id=f"id-{name}", name=name)
    return classify(obs, fire(n - 1) + timedelta(seconds=30))


def _ran(name: str, n: int) -> DefinitionStatus:
    runs = [run(0, started_at=fire(1), closed_at=fire(1) + timedelta(seconds=1))]
    runs += [run(i) for i in range(1, n)]
    obs = seen(n, runs, activity_id=f"id-{name}", name=name)
    return classify(obs, fire(n - 1) + timedelta(seconds=30))


def test_two_definitions_on_a_queue_nobody_polls_are_one_incident_then_one_recovery() -> None:
    names = {"id-a": "a", "id-b": "b"}
    statuses = [_waiting("a", 2), _waiting("b", 2)]
    assert all(s.unclaimed_queues == {QUEUE: fire(0)} for s in statuses)
    now = fire(1) + timedelta(seconds=30)
    problem = {QUEUE: ["id-a", "id-b"]}
    first = advance(WatchdogState(), statuses, now, names=names, queue_problems=problem)
    (incident,) = first.raised
    assert (incident.kind, incident.severity) == ("no_pollers", Severity.PAGE)
    assert "2 definition(s) wait: a, b" in incident.detail
    assert incident.title().startswith(f"task queue {QUEUE}: no worker polls it")
    assert f"--task-queue {QUEUE}" in (what_to_do(incident) or "")
    joined = [a for a in first.state.open_alerts if a.incident == incident.alert_id]
    assert sorted(a.activity_name for a in joined) == ["a", "b"]
    assert {a.kind for a in joined} == {"pending_unclaimed"}
    again = advance(first.state, statuses, now, names=names, queue_problems=problem)
    assert again.raised == [] and again.recovered == []
    later = fire(3) + timedelta(seconds=30)
    back = advance(again.state, [_ran("a", 4), _ran("b", 4)], later, names=names, queue_problems={})
    assert [r.resolves for r in back.recovered] == [incident.alert_id]  # one notice
    assert back.state.open_alerts == [] and back.state.queue_alerts == {}


def test_one_waiting_definition_is_its_own_page_not_an_incident() -> None:
    now = fire(1) + timedelta(seconds=30)
    problem = {QUEUE: ["id-a"]}
    alone = advance(
        WatchdogState(), [_waiting("a", 2)], now, names={"id-a": "a"}, queue_problems=problem
    )
    assert [a.kind for a in alone.raised] == ["pending_unclaimed"]


def test_a_failure_never_hides_inside_an_incident() -> None:
    names = {"id-a": "a", "id-b": "b"}
    now = fire(1) + timedelta(seconds=30)
    problem = {QUEUE: ["id-a", "id-b"]}
    waiting = [_waiting("a", 2), _waiting("b", 2)]
    first = advance(WatchdogState(), waiting, now, names=names, queue_problems=problem)
    failed = classify(
        seen(
            3,
            [run(0, started_at=fire(1)), run(1), run(2, outcome=None, status="failed")],
            activity_id="id-a",
            name="a",
        ),
        fire(2) + timedelta(seconds=30),
    )
    after = advance(
        first.state,
        [failed, _waiting("b", 3)],
        fire(2) + timedelta(seconds=30),
        names=names,
        queue_problems=problem,
    )
    assert [a.kind for a in after.raised] == ["failed"]


def test_queues_not_checked_leave_the_definitions_alerts_as_they_are() -> None:
    now = fire(1) + timedelta(seconds=30)
    plain = advance(WatchdogState(), [_waiting("a", 2)], now, names={"id-a": "a"})
    assert [a.kind for a in plain.raised] == ["pending_unclaimed"]
