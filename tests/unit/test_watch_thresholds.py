"""The watchdog's thresholds on constructed histories: ``alert_after``,
``min_runtime_seconds`` and the trigger's ``max_lateness_seconds`` (guard and verdict)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from activity_core.domain import (
    ActivityDefinition,
    Advance,
    DefinitionStatus,
    FireKind,
    MisfirePolicy,
    RunOutcome,
    RunSeen,
    ScheduleSeen,
    Severity,
    WatchdogState,
    advance,
    classify,
)
from activity_core.domain.alert_text import what_to_do
from activity_core.domain.deadlines import event_status, expects_events
from activity_core.domain.misfire import decide
from activity_core.domain.pause import failed_in_a_row, pause_orders
from tests.unit.test_watchdog_judge import EVERY, fire, run, seen

FAILED = {"outcome": None, "status": "failed"}


def _pass(
    state: WatchdogState, n: int, runs: list[RunSeen], **kw: Any
) -> tuple[Advance, DefinitionStatus]:
    """One pass after fire ``n - 1`` over ``n`` expected fires."""
    now = fire(n - 1) + timedelta(seconds=30)
    status = classify(seen(n, runs, **kw), now)
    return advance(state, [status], now), status


def test_alert_after_two_one_bad_fire_pages_nobody_two_in_a_row_page_once() -> None:
    state = WatchdogState()
    first, status = _pass(state, 1, [run(0, **FAILED)], alert_after=2)
    assert first.raised == []  # held ...
    assert [v.kind for v in status.verdicts] == [FireKind.FAILED]  # ... but judged
    second, _ = _pass(first.state, 2, [run(0, **FAILED), run(1, **FAILED)], alert_after=2)
    (page,) = second.raised
    assert page.severity == Severity.PAGE and page.kind == "failed"
    assert [f.fire for f in page.fires] == [fire(0), fire(1)]  # the whole streak
    again, _ = _pass(second.state, 2, [run(0, **FAILED), run(1, **FAILED)], alert_after=2)
    assert again.raised == [] and again.updated == []  # a second pass raises nothing
    third, _ = _pass(
        again.state, 3, [run(0, **FAILED), run(1, **FAILED), run(2, **FAILED)], alert_after=2
    )
    assert third.raised == [] and [a.alert_id for a in third.updated] == [page.alert_id]


def test_alert_after_a_good_fire_between_ends_the_streak() -> None:
    runs = [run(0, **FAILED), run(1), run(2, **FAILED), run(3)]
    state = WatchdogState()
    for n in range(1, 5):
        folded, _ = _pass(state, n, runs[:n], alert_after=2)
        assert folded.raised == [], n
        state = folded.state
    assert state.open_alerts == []
    # The default pages at the first bad fire.
    default, _ = _pass(WatchdogState(), 1, runs[:1])
    assert [a.kind for a in default.raised] == ["failed"]


def test_alert_after_never_holds_notes() -> None:
    skipped = run(0, outcome="skipped_missed")
    folded, _ = _pass(WatchdogState(), 1, [skipped], alert_after=3)
    assert [(a.kind, a.severity) for a in folded.raised] == [("skipped_by_policy", Severity.NOTE)]


def test_a_run_faster_than_min_runtime_is_too_fast_and_pages() -> None:
    quick = run(0, closed_at=fire(0) + timedelta(seconds=0.5))
    slow = run(1, closed_at=fire(1) + timedelta(seconds=9))
    folded, status = _pass(WatchdogState(), 2, [quick, slow], min_runtime_s=3)
    assert [v.kind for v in status.verdicts] == [FireKind.TOO_FAST, FireKind.OK]
    assert "min_runtime_seconds 3" in status.verdicts[0].detail
    (page,) = folded.raised
    assert page.kind == "too_fast" and page.severity == Severity.PAGE
    todo = what_to_do(page) or ""
    assert "`actcore runs list demo`" in todo and "NAME" not in todo
    # Unset, the same runs are fine.
    _, plain = _pass(WatchdogState(), 2, [quick, slow])
    assert [v.kind for v in plain.verdicts] == [FireKind.OK, FireKind.OK]


def test_a_fire_past_max_lateness_is_skipped_too_late_a_note() -> None:
    late = run(0, outcome="skipped_too_late", lateness_s=5400.0)
    folded, status = _pass(WatchdogState(), 1, [late])
    (verdict,) = status.verdicts
    assert verdict.kind == FireKind.SKIPPED_TOO_LATE and "5400 s late" in verdict.detail
    assert [(a.kind, a.severity) for a in folded.raised] == [("skipped_too_late", Severity.NOTE)]


def test_a_catchup_latest_skip_too_late_accounts_for_every_fire_it_stood_for() -> None:
    covering = run(
        0,
        outcome="skipped_too_late",
        scheduled_for=fire(2),
        started_at=fire(2) + timedelta(seconds=20),
        closed_at=fire(2) + timedelta(seconds=21),
        covered_fires=[fire(0), fire(1), fire(2)],
    )
    _, status = _pass(WatchdogState(), 3, [covering])
    assert [v.kind for v in status.verdicts] == [FireKind.SKIPPED_TOO_LATE] * 3


@pytest.mark.parametrize(
    ("policy", "late_s", "outcome"),
    [
        (MisfirePolicy.CATCHUP_ALL, 3000, RunOutcome.RAN_LATE),
        (MisfirePolicy.CATCHUP_ALL, 4000, RunOutcome.SKIPPED_TOO_LATE),
        (MisfirePolicy.CATCHUP_LATEST, 3000, RunOutcome.RAN_LATE),
        (MisfirePolicy.CATCHUP_LATEST, 4000, RunOutcome.SKIPPED_TOO_LATE),
    ],
)
def test_the_guard_skips_a_fire_later_than_max_lateness(
    policy: MisfirePolicy, late_s: int, outcome: RunOutcome
) -> None:
    nominal = fire(0)
    decision = decide(
        policy,
        nominal=nominal,
        now=nominal + timedelta(seconds=late_s),
        window_s=86400,
        tolerance_s=60,
        max_lateness_s=3600,
    )
    assert decision.outcome == outcome
    assert decision.run == (outcome != RunOutcome.SKIPPED_TOO_LATE)


def test_catchup_latest_judges_lateness_by_the_latest_due_fire() -> None:
    nominal = fire(0)
    # Worker down two hours over hourly fires: the latest due fire is 10 min old, so the
    # run goes ahead as the latest; at 70 minutes past the latest fire it is too late.
    later = [nominal + timedelta(hours=h) for h in (1, 2)]
    for minutes, outcome in ((10, RunOutcome.RAN_AS_LATEST), (70, RunOutcome.SKIPPED_TOO_LATE)):
        decision = decide(
            MisfirePolicy.CATCHUP_LATEST,
            nominal=nominal,
            now=later[-1] + timedelta(minutes=minutes),
            window_s=3600 * 3,
            tolerance_s=60,
            later_fires=later,
            max_lateness_s=3600,
        )
        assert decision.outcome == outcome
        assert decision.covered == [nominal, *later]


def test_max_lateness_on_a_skip_definition_names_the_field_and_the_fix() -> None:
    with pytest.raises(ValidationError) as caught:
        ActivityDefinition.model_validate(
            {
                "name": "x",
                "handler": "static_report",
                "trigger_config": {
                    "trigger_type": "interval",
                    "every_seconds": 60,
                    "misfire_policy": "skip",
                    "max_lateness_seconds": 30,
                },
            }
        )
    assert "catchup_window_seconds" in str(caught.value)


def test_fires_of_a_definition_not_seen_are_unknown_and_raise_nothing() -> None:
    folded, status = _pass(WatchdogState(), 3, [], blind="UNAVAILABLE: visibility down")
    assert [v.kind for v in status.verdicts] == [FireKind.UNKNOWN] * 3
    assert all("visibility down" in v.detail for v in status.verdicts)
    assert folded.raised == [] and folded.state.accounted.get("id-demo", []) == []


def test_watchdog_blind_is_one_page_while_it_lasts_and_one_recovery() -> None:
    now = fire(3)
    _, status = _pass(WatchdogState(), 3, [], blind="UNAVAILABLE")
    first = advance(WatchdogState(), [status], now, blind_problem="1 definition(s) not seen")
    (page,) = first.raised
    assert (page.kind, page.severity) == ("watchdog_blind", Severity.PAGE)
    assert page.title().startswith("watchdog blind: 1 definition(s) not seen")
    todo = what_to_do(page) or ""
    assert "definition not seen" in todo and "NAME" not in todo
    again = advance(first.state, [status], now, blind_problem="1 definition(s) not seen")
    assert again.raised == [] and again.state.blind_alert == page.alert_id
    seen_again = advance(again.state, [status], now)
    assert [r.resolves for r in seen_again.recovered] == [page.alert_id]
    assert seen_again.state.blind_alert is None


def test_a_schedule_whose_next_action_passed_unacted_is_scheduler_stalled() -> None:
    stuck = ScheduleSeen(exists=True, overlap="SKIP", catchup_window_s=EVERY, next_fire=fire(1))
    _, status = _pass(WatchdogState(), 3, [run(0)], schedule=stuck)
    missing = [v for v in status.verdicts if v.kind == FireKind.MISSING]
    assert missing and all("scheduler stalled" in v.detail for v in missing)
    assert "temporal schedule toggle" in missing[0].detail
    assert "--schedule-id activity-schedule-id-demo" in missing[0].detail
    # A next action time still ahead is a plain missing fire.
    ahead = ScheduleSeen(exists=True, overlap="SKIP", catchup_window_s=EVERY, next_fire=fire(5))
    _, plain = _pass(WatchdogState(), 3, [run(0)], schedule=ahead)
    assert all("stalled" not in v.detail for v in plain.verdicts if v.kind == FireKind.MISSING)


def _event_definition(**watch: Any) -> ActivityDefinition:
    return ActivityDefinition.model_validate(
        {
            "name": "welcome-pro",
            "handler": "static_report",
            "trigger_config": {
                "trigger_type": "event",
                "event_type": "user.created",
                "filters": {"tier": "pro"},
            },
            "watch": watch,
        }
    )


def test_an_event_deadline_passes_without_a_matching_run_then_an_event_closes_it() -> None:
    d = _event_definition(expect_within_seconds=86400)
    began = fire(0)
    quiet = event_status(d, None, began, began + timedelta(hours=23))
    assert quiet.verdicts == []  # within the deadline: nothing to say yet
    late = event_status(d, None, began, began + timedelta(hours=25))
    (verdict,) = late.verdicts
    assert verdict.kind == FireKind.NO_EVENTS and verdict.fire == began + timedelta(days=1)
    assert "no user.created with tier=pro since the watchdog began (1 d" in verdict.detail
    folded = advance(WatchdogState(), [late], began + timedelta(hours=25))
    (page,) = folded.raised
    assert page.severity == Severity.PAGE and "actcore events lag" in (what_to_do(page) or "")
    arrived = began + timedelta(hours=26)
    back = event_status(d, arrived, began, arrived + timedelta(minutes=5))
    recovered = advance(folded.state, [back], arrived + timedelta(minutes=5))
    assert [r.resolves for r in recovered.recovered] == [page.alert_id]
    # The next silence is measured from the last event.
    again = event_status(d, arrived, began, arrived + timedelta(hours=25))
    assert [v.kind for v in again.verdicts] == [FireKind.OK, FireKind.NO_EVENTS]
    assert "since " + f"{arrived:%Y-%m-%d %H:%M}" in again.verdicts[1].detail


def test_expect_within_on_a_scheduled_definition_is_refused_with_the_fix() -> None:
    with pytest.raises(ValidationError, match="event-triggered"):
        ActivityDefinition.model_validate(
            {
                "name": "x",
                "handler": "static_report",
                "trigger_config": {
                    "trigger_type": "interval",
                    "every_seconds": 60,
                    "misfire_policy": "skip",
                },
                "watch": {"expect_within_seconds": 3600},
            }
        )
    assert expects_events(_event_definition(expect_within_seconds=60))
    assert not expects_events(_event_definition())


def test_pause_after_counts_failed_fires_in_a_row_and_orders_one_pause() -> None:
    failed = {"outcome": None, "status": "failed"}
    runs = [run(0), run(1, **failed), run(2, outcome="could_not_run"), run(3, **failed)]
    now = fire(3) + timedelta(seconds=30)
    obs = seen(4, runs)
    status = classify(obs, now)
    assert failed_in_a_row(status) == 3
    orders, pages = pause_orders([(obs, status, 3)], now)
    (note,) = orders.values()
    assert note.startswith("paused by the activity-core watchdog after 3 failed fires")
    (page,) = pages
    assert page.kind == "paused_after_failures" and page.severity == Severity.PAGE
    assert "temporal schedule toggle" in (what_to_do(page) or "")
    assert pause_orders([(obs, status, 4)], now) == ({}, [])  # not yet
    paused = obs.model_copy(update={"schedule": obs.schedule.model_copy(update={"paused": True})})
    assert pause_orders([(paused, status, 3)], now) == ({}, [])  # already paused
    healed = classify(seen(5, [*runs, run(4)]), fire(4) + timedelta(seconds=30))
    assert failed_in_a_row(healed) == 0
