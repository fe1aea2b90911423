"""The watchdog's alert about the event router: one page per episode, one recovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activity_core.domain import WatchdogState, advance
from activity_core.domain.events import router_problem

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def test_problem_words_for_each_state() -> None:
    base = {"nats": ["nats://n1:4222"]}
    assert router_problem(None, 10, 60) is None
    assert "does not answer" in (router_problem({**base, "state": "unreachable"}, 10, 60) or "")
    assert "no event router polls" in (router_problem({**base, "state": "no_router"}, 10, 60) or "")
    ok = {**base, "state": "ok", "pending": 3, "oldest_unacked_seconds": 5.0}
    assert router_problem(ok, 10, 60) is None
    assert "12 events wait" in (router_problem({**ok, "pending": 12}, 10, 60) or "")
    assert "700 s old" in (router_problem({**ok, "oldest_unacked_seconds": 700.0}, 10, 60) or "")


def test_one_page_per_episode_then_one_recovery() -> None:
    first = advance(WatchdogState(), [], T0, router_problem="no event router polls")
    assert [a.kind for a in first.raised] == ["event_router"]
    assert first.raised[0].severity.value == "page"
    alert_id = first.raised[0].alert_id
    assert first.state.router_alert == alert_id
    assert [a.alert_id for a in first.state.open_alerts] == [alert_id]

    # The numbers change, the problem persists: no new page, the open alert is updated.
    second = advance(first.state, [], T0 + timedelta(minutes=5), router_problem="1200 events wait")
    assert second.raised == [] and second.recovered == []
    assert second.state.open_alerts[0].detail == "1200 events wait"

    # A pass over some definitions only neither raises nor closes it.
    partial = advance(second.state, [], T0 + timedelta(minutes=7), complete=False)
    assert partial.recovered == [] and partial.state.router_alert == alert_id

    back = advance(second.state, [], T0 + timedelta(minutes=10), router_problem=None)
    assert [a.kind for a in back.recovered] == ["recovered"]
    assert back.recovered[0].resolves == alert_id
    assert back.state.open_alerts == [] and back.state.router_alert is None
    assert "recovered" in back.recovered[0].title()

    quiet = advance(back.state, [], T0 + timedelta(minutes=15), router_problem=None)
    assert quiet.raised == [] and quiet.recovered == []

    again = advance(quiet.state, [], T0 + timedelta(hours=1), router_problem="NATS down")
    assert len(again.raised) == 1 and again.raised[0].alert_id != alert_id


def test_alert_text_names_the_problem_and_what_to_do() -> None:
    from activity_core.domain import alert_markdown

    raised = advance(WatchdogState(), [], T0, router_problem="no event router polls").raised[0]
    body = alert_markdown(raised)
    assert "no event router polls" in body and "actcore events lag" in body
    closed = advance(
        advance(WatchdogState(), [], T0, router_problem="x").state, [], T0, router_problem=None
    ).recovered[0]
    assert "Recovered" in alert_markdown(closed)
