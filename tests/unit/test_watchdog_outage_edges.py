"""One alert per outage: the fires an outage skips, the runs that stand for them, and when
the alert may close (constructed observations, the judge's own code; no server)."""

from __future__ import annotations

from datetime import datetime, timedelta

from activity_core.domain import (
    DefinitionSeen,
    DefinitionStatus,
    FireKind,
    FireVerdict,
    RunSeen,
    Severity,
    WatchdogState,
    advance,
    classify,
)
from tests.unit.test_watchdog_judge import fire, only_alert, run, seen


def _by_fire(status: DefinitionStatus) -> dict[datetime, FireVerdict]:
    return {v.fire: v for v in status.verdicts}


def test_skip_outage_the_in_grace_skip_joins_the_page_and_recovery_waits_for_it() -> None:
    """`skip` after a server outage: fires 1-2 missed, the catch-up of fire 3 (in the
    grace) ran on time by the skip policy's measure, fire 4 was skipped behind it. In the
    pass where the catch-up completed, fire 4 is still unjudged: no recovery yet, and the
    skip then joins the same alert, which closes only on a later ok fire."""
    grace = 60.0
    catchup = run(
        3,
        outcome="ran",
        started_at=fire(4) + timedelta(seconds=3),
        closed_at=fire(4) + timedelta(seconds=5),
    )

    def obs(n: int, *more: RunSeen) -> DefinitionSeen:
        runs = [run(0), catchup, *more]
        return seen(n, runs, catchup_window_s=grace, policy="skip", tolerance_s=60)

    # Pass 1, while the outage's fires are judged: missing page.
    t1 = fire(4) - timedelta(seconds=1)
    first = advance(WatchdogState(), [classify(obs(4), t1)], t1)
    page = only_alert(first.raised)
    assert page.kind == "missing" and page.severity == Severity.PAGE
    # Pass 2: the catch-up ran ok, fire 4 is within its tolerance (due): no recovery.
    t2 = fire(4) + timedelta(seconds=9)
    status2 = classify(obs(5), t2)
    assert _by_fire(status2)[fire(4)].kind == FireKind.DUE
    second = advance(first.state, [status2], t2)
    assert second.recovered == [] and second.raised == []
    # Pass 3: fire 4 judged as the policy skip it is: a line of the same alert.
    t3 = fire(4) + timedelta(seconds=70)
    third = advance(second.state, [classify(obs(5), t3)], t3)
    assert third.raised == [] and third.recovered == []
    (open_alert,) = third.state.open_alerts
    assert open_alert.alert_id == page.alert_id
    assert open_alert.fires[-1].kind == FireKind.SKIPPED_BY_POLICY
    # Fire 5 runs ok: one recovery notice for the whole outage.
    t4 = fire(5) + timedelta(seconds=30)
    fourth = advance(third.state, [classify(obs(6, run(5)), t4)], t4)
    assert fourth.raised == [] and [r.resolves for r in fourth.recovered] == [page.alert_id]


def test_catchup_latest_a_fire_skipped_behind_a_run_open_across_a_restart_is_missing() -> None:
    """The run of fire 0 stayed open past fire 1 (a restart in between); the server skipped
    fire 1 as an overlap; the run had started before fire 1, so it cannot stand for it and
    nothing will ever run for fire 1: a page, not a policy note."""
    long = run(0, closed_at=fire(1) + timedelta(seconds=20))
    status = classify(seen(3, [long, run(2)]), fire(2) + timedelta(seconds=30))
    verdict = _by_fire(status)[fire(1)]
    assert verdict.kind == FireKind.MISSING and verdict.severity == Severity.PAGE
    assert "cannot stand for it" in verdict.detail
    # The same while that run is still open and its guard has decided (ScheduledFor set).
    still = run(0, status="running", outcome=None, closed_at=None)
    verdict = _by_fire(classify(seen(2, [still]), fire(1) + timedelta(seconds=30)))[fire(1)]
    assert verdict.kind == FireKind.MISSING and "still open" in verdict.detail


def test_catchup_latest_a_fire_behind_an_undecided_or_self_skipping_run_is_not_missing() -> None:
    # The blocking run has not run its guard yet: it may still stand for fire 1.
    undecided = run(0, status="running", outcome=None, closed_at=None, scheduled_for=None)
    now = fire(1) + timedelta(seconds=30)
    assert _by_fire(classify(seen(2, [undecided]), now))[fire(1)].kind == FireKind.DUE
    # It started beyond the window and skipped itself with the fires after it: a policy skip.
    skipped = run(0, outcome="skipped_missed", closed_at=fire(1) + timedelta(seconds=5))
    verdict = _by_fire(classify(seen(2, [skipped]), now))[fire(1)]
    assert verdict.kind == FireKind.SKIPPED_BY_POLICY


def test_catchup_latest_fires_a_running_catch_up_run_stands_for_are_covered() -> None:
    """Back from an outage the server starts fire 1 at fire 2 + 3 s and skips fire 2 behind
    it; the run's guard dated it for fire 2 (ScheduledFor) but its outcome is only written
    when it ends. Fire 2 is covered meanwhile, never reported as skipped."""
    started = fire(2) + timedelta(seconds=3)
    running = run(
        1,
        status="running",
        outcome=None,
        scheduled_for=fire(2),
        started_at=started,
        closed_at=None,
    )
    now = fire(2) + timedelta(seconds=30)
    status = classify(seen(3, [run(0), running]), now)
    assert _by_fire(status)[fire(2)].kind == FireKind.COVERED
    assert advance(WatchdogState(), [status], now).raised == []
    # Before its guard decided, the fire waits (due), it is not a skip either.
    undecided = running.model_copy(update={"scheduled_for": None})
    status = classify(seen(3, [run(0), undecided]), now)
    assert _by_fire(status)[fire(2)].kind == FireKind.DUE
    # Completed as the latest: covered by its recorded list.
    done = running.model_copy(
        update={
            "status": "completed",
            "outcome": "ran_as_latest",
            "closed_at": started + timedelta(seconds=1),
            "covered_fires": [fire(1), fire(2)],
        }
    )
    status = classify(seen(3, [run(0), done]), now)
    assert [v.kind.value for v in status.verdicts] == ["ok", "covered", "covered"]


def test_a_recovery_is_not_held_back_by_a_run_in_progress_after_the_ok_fire() -> None:
    """Only unjudged fires hold a recovery back; a long run in progress after the ok fire
    does not (a definition that always has a run open still recovers)."""
    failed = run(0, status="failed", outcome=None)
    now = fire(0) + timedelta(seconds=30)
    first = advance(WatchdogState(), [classify(seen(1, [failed]), now)], now)
    page = only_alert(first.raised)
    open_run = run(2, status="running", outcome=None, closed_at=None)
    later = fire(2) + timedelta(seconds=30)
    back = advance(first.state, [classify(seen(3, [failed, run(1), open_run]), later)], later)
    assert [r.resolves for r in back.recovered] == [page.alert_id]
