"""The watchdog's classifier and alert folding on constructed observations (no server)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from activities.watchdog_observe import MAX_LOOKBACK, window_start
from activity_core.alerts import load_alert_sinks
from activity_core.domain import (
    ActivityDefinition,
    Alert,
    DefinitionSeen,
    DeliverySeen,
    FireKind,
    IntervalTrigger,
    RunSeen,
    ScheduleSeen,
    Severity,
    WatchdogState,
    WebhookSink,
    advance,
    alert_event,
    alert_markdown,
    classify,
)
from activity_core.domain.misfire import fires_between
from activity_core.domain.sink_alerts import (
    OpenDelivery,
    SinkProblem,
    per_definition,
    sink_problems,
)
from activity_core.errors import ConfigError

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
EVERY = 60


def fire(i: int) -> datetime:
    return T0 + timedelta(seconds=EVERY * i)


def run(i: int, **kw: Any) -> RunSeen:
    """A run for fire i that completed as ``ran`` a second after the fire (by default)."""
    base: dict[str, Any] = {
        "workflow_id": f"activity-run-demo-{fire(i):%H%M%S}",
        "nominal": fire(i),
        "scheduled_for": fire(i),
        "outcome": "ran",
        "status": "completed",
        "started_at": fire(i) + timedelta(seconds=0.2),
        "closed_at": fire(i) + timedelta(seconds=1),
    }
    base.update(kw)
    return RunSeen(**base)


def seen(fires: int, runs: list[RunSeen], **kw: Any) -> DefinitionSeen:
    base: dict[str, Any] = {
        "activity_id": "id-demo",
        "name": "demo",
        "policy": "catchup_latest",
        "enabled": True,
        "overlap": "SKIP",
        "catchup_window_s": EVERY,
        "tolerance_s": 10,
        "page_late_s": 300,
        "max_runtime_s": 120,
        "delivery_alert_s": 600,
        "window_start": fire(0) - timedelta(seconds=1),
        "expected_fires": [fire(i) for i in range(fires)],
        "runs": runs,
        "schedule": ScheduleSeen(exists=True, overlap="SKIP", catchup_window_s=EVERY),
    }
    base.update(kw)
    return DefinitionSeen(**base)


def kinds(observation: DefinitionSeen, now: datetime) -> list[str]:
    return [v.kind.value for v in classify(observation, now).verdicts]


def test_fires_that_ran_on_time_are_ok_and_raise_nothing() -> None:
    obs = seen(3, [run(0), run(1), run(2)])
    status = classify(obs, fire(2) + timedelta(seconds=30))
    assert [v.kind for v in status.verdicts] == [FireKind.OK] * 3
    folded = advance(WatchdogState(), [status], fire(3))
    assert folded.raised == [] and folded.state.open_alerts == []


def test_a_fire_too_recent_to_judge_is_due_not_missing() -> None:
    obs = seen(2, [run(0)])
    assert kinds(obs, fire(1) + timedelta(seconds=5)) == ["ok", "due"]
    assert kinds(obs, fire(1) + timedelta(seconds=30)) == ["ok", "missing"]


def test_a_paused_schedule_makes_its_fires_missing_with_that_cause() -> None:
    obs = seen(
        3,
        [run(0)],
        schedule=ScheduleSeen(exists=True, paused=True, overlap="SKIP", catchup_window_s=EVERY),
    )
    status = classify(obs, fire(2) + timedelta(seconds=30))
    missing = [v for v in status.verdicts if v.kind == FireKind.MISSING]
    assert len(missing) == 2
    assert all(v.severity == Severity.PAGE and "paused" in v.detail for v in missing)
    assert "schedule paused but the definition is enabled" in status.health


def test_a_server_that_missed_fires_names_its_catchup_window_and_counter() -> None:
    obs = seen(
        3,
        [run(0), run(2)],
        schedule=ScheduleSeen(
            exists=True, overlap="SKIP", catchup_window_s=EVERY, missed_catchup_window=1
        ),
    )
    verdict = classify(obs, fire(2) + timedelta(seconds=30)).verdicts[1]
    assert verdict.kind == FireKind.MISSING
    assert "catchup window of 60 s" in verdict.detail and "counts 1" in verdict.detail
    assert "lifetime" in verdict.detail  # no previous pass: the count is the lifetime one


def test_a_missing_cause_counts_what_this_outage_missed_not_the_lifetime_total() -> None:
    schedule = ScheduleSeen(
        exists=True,
        overlap="SKIP",
        catchup_window_s=EVERY,
        missed_catchup_window=5,
        missed_catchup_before=3,
    )
    verdict = classify(
        seen(3, [run(0), run(2)], schedule=schedule), fire(2) + timedelta(seconds=30)
    )
    assert verdict.verdicts[1].kind == FireKind.MISSING
    assert "counts 2 fires missed past the catchup window since the previous pass" in (
        verdict.verdicts[1].detail
    )
    assert "5" not in verdict.verdicts[1].detail


def test_a_recovery_waits_for_a_later_pass_and_for_recover_after_ok_fires() -> None:
    failed = run(0, outcome=None, status="failed")
    now = fire(1) + timedelta(seconds=30)
    # The failure and an ok fire after it are judged in the same pass: page, no recovery.
    first = advance(WatchdogState(), [classify(seen(2, [failed, run(1)]), now)], now)
    assert [a.kind for a in first.raised] == ["failed"] and first.recovered == []
    # Two ok fires are wanted: one is not enough, two are (in a later pass).
    later = fire(2) + timedelta(seconds=30)
    two = seen(3, [failed, run(1), run(2)], recover_after=2)
    one_more = seen(2, [failed, run(1)], recover_after=2)
    assert advance(first.state, [classify(one_more, later)], later).recovered == []
    (notice,) = advance(first.state, [classify(two, later)], later).recovered
    assert notice.resolves == first.raised[0].alert_id and notice.recovered_by is not None
    assert notice.recovered_by.fire == fire(2)


def test_worker_down_one_grouped_page_then_one_recovery_notice() -> None:
    # Fire 0's run waits for a worker; fire 1 is skipped as an overlap behind it.
    waiting = run(0, status="running", outcome=None, closed_at=None, unclaimed_since=fire(0))
    now = fire(1) + timedelta(seconds=30)
    first = advance(WatchdogState(), [classify(seen(2, [waiting]), now)], now)
    assert [a.kind for a in first.raised] == ["pending_unclaimed"]
    alert = first.raised[0]
    assert alert.severity == Severity.PAGE
    assert [f.kind.value for f in alert.fires] == ["pending_unclaimed", "pending_unclaimed"]

    again = advance(first.state, [classify(seen(2, [waiting]), now)], now)
    assert again.raised == [] and again.recovered == []
    assert [a.alert_id for a in again.state.open_alerts] == [alert.alert_id]

    # The worker is back: fire 0 is skipped by policy, fire 2 runs on time.
    skipped = run(0, outcome="skipped_missed", started_at=fire(0), closed_at=fire(2))
    later = fire(2) + timedelta(seconds=30)
    back = advance(again.state, [classify(seen(3, [skipped, run(2)]), later)], later)
    assert back.raised == []
    assert [r.resolves for r in back.recovered] == [alert.alert_id]
    assert back.state.open_alerts == []
    quiet = advance(back.state, [classify(seen(3, [skipped, run(2)]), later)], later)
    assert quiet.raised == [] and quiet.recovered == []


def test_skip_by_policy_is_a_note_that_closes_silently() -> None:
    skipped = run(0, outcome="skipped_missed")
    now = fire(0) + timedelta(seconds=30)
    first = advance(WatchdogState(), [classify(seen(1, [skipped]), now)], now)
    assert [(a.kind, a.severity) for a in first.raised] == [("skipped_by_policy", Severity.NOTE)]
    later = fire(1) + timedelta(seconds=30)
    after = advance(first.state, [classify(seen(2, [skipped, run(1)]), later)], later)
    assert after.recovered == [] and after.state.open_alerts == []


def test_a_catchup_latest_run_covers_older_fires_and_is_late_by_its_own_measure() -> None:
    latest = run(
        0,
        outcome="ran_as_latest",
        scheduled_for=fire(2),
        started_at=fire(2) + timedelta(seconds=20),
        closed_at=fire(2) + timedelta(seconds=21),
        covered_fires=[fire(0), fire(1), fire(2)],
    )
    verdicts = classify(seen(3, [latest]), fire(2) + timedelta(seconds=40)).verdicts
    assert [v.kind for v in verdicts] == [FireKind.COVERED] * 3
    assert all(v.severity is None for v in verdicts)


def test_lateness_leaves_a_note_until_it_passes_the_page_threshold() -> None:
    short = run(0, outcome="ran_late", lateness_s=45.0)
    long = run(1, outcome="ran_late", lateness_s=900.0)
    verdicts = classify(seen(2, [short, long]), fire(1) + timedelta(seconds=999)).verdicts
    assert [(v.kind, v.severity) for v in verdicts] == [
        (FireKind.LATE, Severity.NOTE),
        (FireKind.LATE, Severity.PAGE),
    ]


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"status": "failed", "outcome": None}, "run failed"),
        ({"status": "terminated", "outcome": None}, "run terminated"),
        ({"outcome": "could_not_run"}, "could not run"),
    ],
)
def test_failed_runs_page(changes: dict[str, Any], detail: str) -> None:
    verdict = classify(seen(1, [run(0, **changes)]), fire(0) + timedelta(seconds=30)).verdicts[0]
    assert (verdict.kind, verdict.severity) == (FireKind.FAILED, Severity.PAGE)
    assert detail in verdict.detail


def test_a_run_open_past_its_max_runtime_is_running_too_long() -> None:
    open_run = run(0, status="running", outcome=None, closed_at=None)
    assert kinds(seen(1, [open_run]), fire(0) + timedelta(seconds=60)) == ["running"]
    assert kinds(seen(1, [open_run]), fire(0) + timedelta(seconds=200)) == ["running_too_long"]


def test_deliveries_are_judged_per_sink_not_per_fire() -> None:
    r0, r1 = run(0), run(1)
    deliveries = [
        DeliverySeen(
            workflow_id="d0", run_id=r0.workflow_id, sink="hub", state="dead", started_at=fire(0)
        ),
        DeliverySeen(
            workflow_id="d1", run_id=r1.workflow_id, sink="hub", state="waiting", started_at=fire(1)
        ),
    ]
    now = fire(1) + timedelta(seconds=700)
    status = classify(seen(2, [r0, r1], deliveries=deliveries), now)
    # The fires ran ok; the sink's trouble is one alert of its own (below), not one per fire.
    assert [v.kind for v in status.verdicts] == [FireKind.OK, FireKind.OK]
    assert (status.deliveries_waiting, status.deliveries_dead) == (1, 1)


def _open(
    i: int,
    state: str,
    *,
    aid: str = "a",
    name: str = "digest",
    sink: str = "hub",
    age: float = 7200.0,
    now: datetime,
) -> OpenDelivery:
    return OpenDelivery(
        workflow_id=f"delivery-{i}",
        activity_id=aid,
        activity_name=name,
        sink=sink,
        state=state,
        started_at=now - timedelta(seconds=age),
    )


def test_one_sink_outage_is_one_alert_whatever_started_the_runs() -> None:
    t0 = fire(10)
    # Scheduled, manual and event runs of three definitions, all waiting on one hub.
    waiting = [
        _open(1, "waiting", aid="a", name="digest", now=t0),
        _open(2, "waiting", aid="b", name="manual-report", now=t0),
        _open(3, "pending", aid="c", name="welcome-event", now=t0),
        _open(4, "waiting", aid="a", name="digest", age=60, now=t0),  # too young to count
    ]
    problems = sink_problems(waiting, {"a": 3600, "b": 3600, "c": 3600}, t0)
    assert list(problems) == ["hub"] and problems["hub"].severity == Severity.NOTE
    first = advance(WatchdogState(), [], t0, sink_problems=problems)
    (note,) = first.raised
    assert (note.kind, note.activity_name, note.severity) == ("sink_waiting", "hub", Severity.NOTE)
    assert "3 waiting (digest 1, manual-report 1, welcome-event 1)" in note.detail
    assert note.title().startswith("sink hub: 3 waiting")
    # The same pass again (status right after): nothing closes in the pass that opened it.
    again = advance(first.state, [], t0, sink_problems={})
    assert again.recovered == [] and again.state.sink_alerts == {"hub": note.alert_id}
    # The outage goes on, more deliveries wait: the same alert, not a new one.
    t1 = t0 + timedelta(minutes=5)
    more = [*waiting, _open(5, "waiting", aid="a", name="digest", age=4000, now=t1)]
    second = advance(first.state, [], t1, sink_problems=sink_problems(more, {}, t1))
    assert second.raised == [] and [a.alert_id for a in second.updated] == [note.alert_id]
    # One delivery goes dead: a page (a new problem); the note is superseded silently.
    t2 = t1 + timedelta(minutes=5)
    dead = [*more, _open(6, "dead", aid="b", name="manual-report", now=t2)]
    third = advance(second.state, [], t2, sink_problems=sink_problems(dead, {}, t2))
    (page,) = third.raised
    assert (page.kind, page.severity) == ("sink_dead", Severity.PAGE)
    assert "1 dead (manual-report 1)" in page.detail
    assert third.recovered == []
    assert [a.alert_id for a in third.state.open_alerts] == [page.alert_id]
    # Everything delivered: one recovery notice, in a later pass.
    t3 = t2 + timedelta(minutes=5)
    fourth = advance(third.state, [], t3, sink_problems={})
    (notice,) = fourth.recovered
    assert notice.resolves == page.alert_id and "flowing again" in notice.detail
    assert fourth.state.open_alerts == [] and fourth.state.sink_alerts == {}
    assert "Deliveries to sink `hub`" in alert_markdown(page)


def test_an_alerts_own_delivery_counts_as_an_alert_not_as_a_definition() -> None:
    """The delivery of a sink alert carries the sink's name and of a missed-fire alert
    the definition's; neither is a run of a definition called so."""
    t0 = fire(10)
    sink_alert = _open(1, "dead", aid="(sinks)", name="hub", now=t0).model_copy(
        update={"workflow_id": "delivery-alert-hub-sink-dead-0123456789ab-hub"}
    )
    fire_alert = _open(2, "dead", aid="a", name="digest", now=t0).model_copy(
        update={"workflow_id": "delivery-alert-digest-missing-0123456789ab-hub"}
    )
    a_run = _open(3, "dead", aid="a", name="digest", now=t0).model_copy(
        update={"workflow_id": "delivery-activity-run-digest-2026-hub"}
    )
    problems = sink_problems([sink_alert, fire_alert, a_run], {"a": 3600}, t0)
    assert problems["hub"].dead == {"watchdog alerts": 2, "digest": 1}
    assert "3 dead (digest 1, watchdog alerts 2)" in problems["hub"].describe(t0)
    counts = per_definition([sink_alert, fire_alert, a_run])
    assert counts == {"a": Counter({"dead": 1})}


def test_each_sink_has_its_own_alert_and_a_partial_pass_leaves_them_alone() -> None:
    t0 = fire(10)
    both = [_open(1, "dead", sink="hub", now=t0), _open(2, "dead", sink="inbox", now=t0)]
    first = advance(WatchdogState(), [], t0, sink_problems=sink_problems(both, {}, t0))
    assert sorted(a.activity_name for a in first.raised) == ["hub", "inbox"]
    later = t0 + timedelta(minutes=5)
    partial = advance(first.state, [], later, complete=False, sink_problems=None)
    assert partial.recovered == [] and len(partial.state.open_alerts) == 2
    healed = advance(first.state, [], later, sink_problems=sink_problems(both[1:], {}, later))
    assert [a.activity_name for a in healed.recovered] == ["hub"]
    assert list(healed.state.sink_alerts) == ["inbox"]


def test_schedule_drift_is_alerted_once_per_distinct_drift() -> None:
    drifted = ScheduleSeen(exists=True, overlap="BUFFER_ALL", catchup_window_s=EVERY)
    now = fire(0) + timedelta(seconds=30)
    status = classify(seen(1, [run(0)], schedule=drifted), now)
    assert status.health == ["drift: overlap policy BUFFER_ALL, definition wants SKIP"]
    first = advance(WatchdogState(), [status], now)
    assert [a.kind for a in first.raised] == ["schedule_drift"]
    assert advance(first.state, [status], now).raised == []


def test_alert_ids_are_deterministic_across_independent_passes() -> None:
    obs = seen(2, [run(0, status="failed", outcome=None)])
    now = fire(1) + timedelta(seconds=30)
    a = advance(WatchdogState(), [classify(obs, now)], now).raised
    b = advance(WatchdogState(), [classify(obs, now + timedelta(minutes=5))], now).raised
    assert [x.alert_id for x in a] == [x.alert_id for x in b]
    assert a[0].alert_id.startswith("alert-demo-failed-")


def test_accounted_fires_are_forgotten_once_out_of_the_look_back() -> None:
    obs = seen(1, [run(0, status="failed", outcome=None)])
    now = fire(0) + timedelta(seconds=30)
    first = advance(WatchdogState(), [classify(obs, now)], now)
    assert first.state.accounted["id-demo"] == [fire(0)]
    moved = {"id-demo": fire(0) + timedelta(seconds=1)}
    later = advance(first.state, [classify(seen(0, []), now)], now, moved)
    assert later.state.accounted["id-demo"] == []


def test_alerts_of_removed_definitions_close_silently() -> None:
    obs = seen(1, [run(0, status="failed", outcome=None)])
    now = fire(0) + timedelta(seconds=30)
    first = advance(WatchdogState(), [classify(obs, now)], now)
    gone = advance(first.state, [], now)
    assert gone.state.open_alerts == [] and gone.recovered == []


def test_the_alert_note_and_event_say_what_happened_and_what_to_do() -> None:
    obs = seen(2, [], schedule=ScheduleSeen(exists=False))
    now = fire(1) + timedelta(seconds=30)
    alert: Alert = advance(WatchdogState(), [classify(obs, now)], now).raised[0]
    body = alert_markdown(alert)
    assert "schedule deleted" in body and "actcore sync" in body and alert.alert_id in body
    event = alert_event(alert, "/notes/a.md")
    assert event.event_type == "activity_alert"
    assert event.detail["activity_core_run_id"] == alert.alert_id
    assert event.detail["severity"] == "page" and len(event.detail["fires"]) == 2


def test_local_fire_times_match_the_interval_grid() -> None:
    trig = IntervalTrigger(trigger_type="interval", every_seconds=60, misfire_policy="skip")
    got = fires_between(trig, fire(0) - timedelta(seconds=1), fire(3))
    assert got == [fire(i) for i in range(4)]


def test_the_look_back_reaches_to_the_previous_pass_but_not_forever() -> None:
    d = ActivityDefinition.model_validate(
        {
            "name": "demo",
            "handler": "static_report",
            "trigger_config": {
                "trigger_type": "interval",
                "every_seconds": 60,
                "misfire_policy": "skip",
            },
        }
    )
    now = fire(100)
    plain = window_start(d, now, 600, None)
    assert now - plain >= timedelta(seconds=3600)  # delivery threshold default
    after_gap = window_start(d, now, 600, now - timedelta(days=2))
    assert now - after_gap > timedelta(days=2)
    assert window_start(d, now, 600, now - timedelta(days=30)) == now - MAX_LOOKBACK


def test_the_alerts_file_gives_sinks_and_names_the_field_it_rejects(tmp_path: Path) -> None:
    assert [s.type for s in load_alert_sinks(None).sinks] == ["state_hub_progress"]
    good = tmp_path / "alerts.yaml"
    good.write_text(
        yaml.safe_dump(
            {
                "alerts": {
                    "sinks": [
                        {"type": "webhook", "name": "inbox", "url": "http://inbox.example/hook"}
                    ]
                }
            }
        )
    )
    sinks = load_alert_sinks(good).sinks
    assert len(sinks) == 1 and isinstance(sinks[0], WebhookSink)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"alerts": {"sinks": [{"type": "webhook", "name": "x"}]}}))
    with pytest.raises(ConfigError) as err:
        load_alert_sinks(bad)
    assert f"{bad}: alerts.sinks[0].url: required field is missing" in str(err.value)


def test_no_recovery_while_a_fire_between_is_still_unjudged() -> None:
    # Fire 0 failed; fire 1 has no run and is still within its tolerance (due) when
    # fire 2 has already run ok: fire 1 may yet be a problem, so the alert stays open.
    obs = seen(3, [run(0, status="failed", outcome=None), run(2)], tolerance_s=90)
    early = fire(2) + timedelta(seconds=5)
    first = advance(WatchdogState(), [classify(obs, early)], early)
    assert [v.kind.value for v in classify(obs, early).verdicts] == ["failed", "due", "ok"]
    assert first.recovered == [] and len(first.state.open_alerts) == 1
    later = fire(2) + timedelta(seconds=60)
    closed = advance(first.state, [classify(obs, later)], later)
    assert [[f.kind.value for f in a.fires] for a in closed.recovered] == [["failed", "missing"]]


@pytest.mark.parametrize(
    ("policy", "skipped_as"), [("skip", "skipped_by_policy"), ("catchup_latest", "missing")]
)
def test_a_skip_after_the_outage_joins_the_open_page_and_a_later_page_is_not_hidden(
    policy: str, skipped_as: str
) -> None:
    waiting = run(0, status="running", outcome=None, closed_at=None, unclaimed_since=fire(0))
    now = fire(0) + timedelta(seconds=30)
    first = advance(WatchdogState(), [classify(seen(1, [waiting], policy=policy), now)], now)
    page = only_alert(first.raised)
    # The worker came back just before fire 1: fire 0 ran late, fire 1 was skipped as an
    # overlap behind it, which stays part of the same outage alert: a policy skip under
    # `skip`; under `catchup_latest` nothing will ever run for it, so it is missing.
    late = run(0, outcome="ran_late", lateness_s=50.0, closed_at=fire(1) + timedelta(seconds=1))
    later = fire(1) + timedelta(seconds=30)
    joined = advance(first.state, [classify(seen(2, [late], policy=policy), later)], later)
    assert joined.raised == []
    assert [f.kind.value for f in joined.state.open_alerts[0].fires] == [
        "pending_unclaimed",
        skipped_as,
    ]
    # A note alert open does not swallow a later page.
    skipped = run(0, outcome="skipped_missed")
    noted = advance(WatchdogState(), [classify(seen(1, [skipped]), now)], now)
    failed = run(1, status="failed", outcome=None)
    paged = advance(noted.state, [classify(seen(2, [skipped, failed]), later)], later)
    assert [(a.kind, a.severity.value) for a in paged.raised] == [("failed", "page")]
    assert page.severity == Severity.PAGE


def only_alert(alerts: list[Alert]) -> Alert:
    assert len(alerts) == 1, alerts
    return alerts[0]


def test_after_a_server_outage_unstarted_fires_wait_for_the_scheduler_before_paging() -> None:
    now = fire(3) + timedelta(seconds=30)
    # Just back: nothing started since fire 0; within the grace the fires are not judged.
    waiting = seen(4, [run(0)], unrun_grace_until=now + timedelta(seconds=10))
    assert kinds(waiting, now) == ["ok", "due", "due", "due"]
    # The grace is over and the server started nothing: missing.
    expired = seen(4, [run(0)], unrun_grace_until=now - timedelta(seconds=1))
    assert kinds(expired, now) == ["ok", "missing", "missing", "missing"]
    # A paused schedule is judged at once (its cause is known).
    paused = ScheduleSeen(exists=True, paused=True, overlap="SKIP", catchup_window_s=EVERY)
    at_once = seen(4, [run(0)], schedule=paused, unrun_grace_until=now + timedelta(seconds=10))
    assert kinds(at_once, now) == ["ok", "missing", "missing", "missing"]


def test_a_catchup_latest_run_still_open_may_cover_the_fires_before_it() -> None:
    now = fire(3) + timedelta(seconds=5)
    latest = run(3, status="running", outcome=None, closed_at=None, started_at=fire(3))
    status = classify(seen(4, [run(0), latest]), now)
    assert [v.kind.value for v in status.verdicts][1:3] == ["due", "due"]
    # Completed as ran_as_latest covering them: covered, nothing to alert.
    done = run(3, outcome="ran_as_latest", covered_fires=[fire(1), fire(2), fire(3)])
    assert kinds(seen(4, [run(0), done]), now + timedelta(seconds=60)) == ["ok"] + ["covered"] * 3


def test_a_catchup_latest_fire_skipped_behind_an_open_run_waits_for_the_next_run() -> None:
    """Fire 1 came while fire 0's run (decided for its own fire) was still open, or while a
    server just back still counted it as open: the server skipped it. Fire 2's run stands
    for it; while that run is open fire 1 is not judged, once it has stood for it fire 1 is
    covered, and only if nothing stood for it is it missing."""
    long_run = run(0, closed_at=fire(1) + timedelta(seconds=1))  # open across fire 1
    now = fire(2) + timedelta(seconds=30)
    nxt = run(2, status="running", outcome=None, closed_at=None)
    waiting = classify(seen(3, [long_run, nxt]), now)
    assert [v.kind.value for v in waiting.verdicts] == ["ok", "due", "running"]
    assert "the next fire's run is still open and will stand for it" in waiting.verdicts[1].detail
    stood = run(2, outcome="ran_as_latest", covered_fires=[fire(1), fire(2)])
    assert kinds(seen(3, [long_run, stood]), now) == ["ok", "covered", "covered"]
    # Nothing stood for it (the next run is its own fire's only, or there is none yet).
    for later in ([run(2)], []):
        status = classify(seen(3, [long_run, *later]), now)
        assert status.verdicts[1].kind.value == "missing", status.verdicts[1]
        assert "which stands for it" in status.verdicts[1].detail
    # A backfill run open later is not the schedule's next run: it stands for its own fire.
    backfill = run(2, workflow_id="backfill-demo-x", status="running", outcome=None, closed_at=None)
    assert kinds(seen(3, [long_run, backfill]), now)[1] == "missing"


def test_a_skip_policy_outage_is_one_page_with_the_overlap_skip_as_a_note_then_one_recovery() -> (
    None
):
    # Grace 60 s (window): server down over fires 1-4; back at fire(4) + 3 s, it starts
    # fire 3 (in the window) late and skips fire 4 as an overlap behind that run.
    window = 60.0
    catchup = run(
        3,
        outcome="ran_late",
        started_at=fire(4) + timedelta(seconds=3),
        closed_at=fire(4) + timedelta(seconds=5),
    )
    obs = seen(6, [run(0), catchup, run(5)], catchup_window_s=window, policy="skip")
    now = fire(5) + timedelta(seconds=30)
    status = classify(obs, now)
    by_fire = {v.fire: v for v in status.verdicts}
    assert by_fire[fire(1)].kind == by_fire[fire(2)].kind == FireKind.MISSING
    skipped = by_fire[fire(4)]
    assert skipped.kind == FireKind.SKIPPED_BY_POLICY and "catch-up" in skipped.detail
    assert "catchup window" not in skipped.detail
    first = advance(WatchdogState(), [status], now)
    (page,) = first.raised
    assert page.severity == Severity.PAGE and {f.fire for f in page.fires} >= {fire(1), fire(4)}
    later = fire(6) + timedelta(seconds=30)
    obs_later = seen(7, [run(0), catchup, run(5), run(6)], catchup_window_s=window, policy="skip")
    second = advance(first.state, [classify(obs_later, later)], later)
    assert second.raised == [] and [r.resolves for r in second.recovered] == [page.alert_id]


def test_fires_the_server_dropped_from_a_full_buffer_say_so_and_how_to_replay_them() -> None:
    schedule = ScheduleSeen(
        exists=True,
        overlap="BUFFER_ALL",
        catchup_window_s=EVERY,
        buffer_dropped=1250,
        buffer_dropped_before=1000,
    )
    obs = seen(3, [run(0), run(2)], schedule=schedule, overlap="BUFFER_ALL")
    (missing,) = [
        v
        for v in classify(obs, fire(2) + timedelta(seconds=30)).verdicts
        if v.kind.value == "missing"
    ]
    assert "buffer of pending starts (at most 1,000) was full" in missing.detail
    assert "counts 250 starts dropped since the previous pass" in missing.detail
    assert "temporal schedule backfill" in missing.detail


def test_a_sink_problem_started_a_moment_in_the_future_is_zero_seconds_old() -> None:
    now = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)
    problem = SinkProblem(
        sink="hub",
        severity=Severity.PAGE,
        dead={"triage": 2},
        oldest=now + timedelta(milliseconds=400),  # the server's clock is a little ahead
    )
    assert problem.describe(now).endswith("oldest started 0 s ago")
    later = problem.describe(now + timedelta(seconds=90))
    assert later == "2 dead (triage 2); oldest started 90 s ago"
