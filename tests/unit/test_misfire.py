"""Misfire policies: schedule mapping, default windows, DST warnings and guard decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import ScheduleOverlapPolicy

from activity_core.domain import (
    ActivityDefinition,
    CronTrigger,
    MisfirePolicy,
    RunOutcome,
    misfire,
)
from activity_core.domain.cron import dst_warnings, largest_gap
from activity_core.domain.misfire import decide
from activity_core.domain.schedule_spec import build_schedule, schedule_id


def _definition(trigger: dict[str, Any], **extra: Any) -> ActivityDefinition:
    return ActivityDefinition.model_validate(
        {"name": "d", "handler": "static_report", "trigger_config": trigger, **extra}
    )


def _cron(policy: str, expr: str = "20 7 * * *", **extra: Any) -> dict[str, Any]:
    return {
        "trigger_type": "cron",
        "cron_expression": expr,
        "timezone": "Europe/Berlin",
        "misfire_policy": policy,
        **extra,
    }


@pytest.mark.parametrize(
    ("policy", "overlap", "window"),
    [
        # The grace (60 s) plus the slack that lets the guard, not the server, judge a
        # fire the server starts late at the top of the hour.
        ("skip", ScheduleOverlapPolicy.SKIP, timedelta(seconds=360)),
        ("catchup_all", ScheduleOverlapPolicy.BUFFER_ALL, timedelta(days=7)),
        # Daily at 07:20 Berlin: the largest gap is 25 h (the day the clocks go back).
        ("catchup_latest", ScheduleOverlapPolicy.SKIP, timedelta(hours=25)),
        ("catchup", ScheduleOverlapPolicy.BUFFER_ALL, timedelta(days=7)),
        ("compress", ScheduleOverlapPolicy.SKIP, timedelta(hours=25)),
    ],
)
def test_policy_maps_to_overlap_and_catchup_window(
    policy: str, overlap: ScheduleOverlapPolicy, window: timedelta
) -> None:
    desired = build_schedule(_definition(_cron(policy)))
    assert desired.schedule.policy.overlap == overlap
    assert desired.schedule.policy.catchup_window == window


FIRE = datetime(2026, 12, 7, 6, 20, tzinfo=UTC)


def test_skip_guard_keeps_its_grace_while_the_server_may_start_a_burst_late() -> None:
    trig = _definition(_cron("skip")).trigger_config
    assert isinstance(trig, CronTrigger)
    # The run's own guard still skips a fire more than the grace late (no burst)...
    late = misfire.decide(
        trig.misfire_policy,
        nominal=FIRE,
        now=FIRE + timedelta(seconds=misfire.SKIP_GRACE_S + 5),
        window_s=misfire.catchup_window_seconds(trig),
        tolerance_s=misfire.on_time_tolerance_seconds(trig),
    )
    assert not late.run
    assert late.outcome == RunOutcome.SKIPPED_MISSED
    # ...while the server keeps such a fire long enough for that run to say so.
    assert misfire.window(trig) > timedelta(seconds=misfire.SKIP_GRACE_S + 100)
    # An explicit window is the server's too, exactly.
    explicit = _definition(_cron("skip", catchup_window_seconds=30)).trigger_config
    assert isinstance(explicit, CronTrigger)
    assert misfire.window(explicit) == timedelta(seconds=30)


def test_schedule_spec_action_and_state() -> None:
    d = _definition(_cron("skip", jitter_seconds=30), enabled=False)
    desired = build_schedule(d)
    assert desired.schedule_id == schedule_id(d) == f"activity-schedule-{d.id}"
    spec = desired.schedule.spec
    assert spec.cron_expressions == ["20 7 * * *"]
    assert spec.time_zone_name == "Europe/Berlin"
    assert spec.jitter == timedelta(seconds=30)
    action = desired.schedule.action
    assert action.workflow == "ActivityRunWorkflow"  # type: ignore[attr-defined]
    assert action.task_queue == "orchestrator-tq"  # type: ignore[attr-defined]
    assert action.id == "activity-run-d"  # type: ignore[attr-defined]
    assert "d" in (action.static_summary or "")  # type: ignore[attr-defined]
    attrs = {p.key.name: p.value for p in action.typed_search_attributes}  # type: ignore[attr-defined]
    assert attrs == {"ActivityId": str(d.id), "ActivityName": "d"}
    assert desired.schedule.state.paused is True


def test_explicit_window_and_interval_trigger() -> None:
    d = _definition(
        {"trigger_type": "interval", "every_seconds": 5, "misfire_policy": "catchup_latest"}
    )
    desired = build_schedule(d)
    assert desired.schedule.spec.intervals[0].every == timedelta(seconds=5)
    # Below Temporal's 10 s minimum, the window is raised to 10 s.
    assert desired.schedule.policy.catchup_window == timedelta(seconds=10)
    explicit = _definition(_cron("catchup_all", catchup_window_seconds=3600))
    assert build_schedule(explicit).schedule.policy.catchup_window == timedelta(hours=1)


def test_window_below_ten_seconds_is_rejected() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 10"):
        _definition(_cron("skip", catchup_window_seconds=5))


def test_fingerprint_changes_with_the_spec_not_with_enabled() -> None:
    base = build_schedule(_definition(_cron("skip")))
    assert build_schedule(_definition(_cron("skip"))).fingerprint == base.fingerprint
    assert build_schedule(_definition(_cron("skip"), enabled=False)).fingerprint == base.fingerprint
    assert build_schedule(_definition(_cron("catchup_all"))).fingerprint != base.fingerprint
    assert build_schedule(_definition(_cron("skip", "0 8 * * *"))).fingerprint != base.fingerprint


@pytest.mark.parametrize(
    ("expr", "zone", "gap"),
    [
        ("20 7 * * *", "UTC", timedelta(days=1)),
        ("20 7 * * *", "Europe/Berlin", timedelta(hours=25)),
        ("20 7 * * 1-5", "UTC", timedelta(days=3)),
        ("0 9 * * 1,3", "UTC", timedelta(days=5)),
        ("*/15 * * * *", "UTC", timedelta(minutes=15)),
        ("0 0 1 * *", "UTC", timedelta(days=31)),
    ],
)
def test_largest_gap(expr: str, zone: str, gap: timedelta) -> None:
    assert largest_gap(expr, zone) == gap


def test_dst_gap_and_overlap_warnings_name_the_dates() -> None:
    start = datetime(2026, 11, 23, tzinfo=UTC)
    warnings = dst_warnings("30 2 * * *", "Europe/Berlin", start)
    assert len(warnings) == 2
    assert warnings[0].startswith("2027-03-28 02:30 Europe/Berlin does not exist")
    assert warnings[1].startswith("2027-10-31 02:30 Europe/Berlin happens twice")
    assert dst_warnings("20 7 * * *", "Europe/Berlin", start) == []
    assert dst_warnings("30 2 * * *", "UTC", start) == []


NOMINAL = datetime(2026, 11, 23, 6, 20, tzinfo=UTC)


def _decide(policy: MisfirePolicy, late: timedelta, later: list[timedelta] | None = None):  # type: ignore[no-untyped-def]
    return decide(
        policy,
        nominal=NOMINAL,
        now=NOMINAL + late,
        window_s=3600 if policy != MisfirePolicy.SKIP else 60,
        tolerance_s=60,
        later_fires=[NOMINAL + d for d in (later or [])],
    )


@pytest.mark.parametrize(
    ("policy", "late", "run", "outcome"),
    [
        (MisfirePolicy.SKIP, timedelta(seconds=5), True, RunOutcome.RAN),
        (MisfirePolicy.SKIP, timedelta(seconds=61), False, RunOutcome.SKIPPED_MISSED),
        (MisfirePolicy.SKIP, timedelta(days=2), False, RunOutcome.SKIPPED_MISSED),
        (MisfirePolicy.CATCHUP_ALL, timedelta(seconds=5), True, RunOutcome.RAN),
        (MisfirePolicy.CATCHUP_ALL, timedelta(minutes=30), True, RunOutcome.RAN_LATE),
        (MisfirePolicy.CATCHUP_ALL, timedelta(hours=2), False, RunOutcome.SKIPPED_MISSED),
        (MisfirePolicy.CATCHUP_LATEST, timedelta(seconds=5), True, RunOutcome.RAN),
        (MisfirePolicy.CATCHUP_LATEST, timedelta(minutes=30), True, RunOutcome.RAN_LATE),
    ],
)
def test_guard_on_time_late_and_very_late(
    policy: MisfirePolicy, late: timedelta, run: bool, outcome: RunOutcome
) -> None:
    decision = _decide(policy, late)
    assert (decision.run, decision.outcome) == (run, outcome)
    assert decision.effective_fire == NOMINAL
    assert decision.lateness_s == late.total_seconds()


def test_catchup_latest_runs_once_as_the_latest_due_fire() -> None:
    days = [timedelta(days=n) for n in (1, 2, 3)]
    decision = _decide(MisfirePolicy.CATCHUP_LATEST, timedelta(days=3, minutes=10), days)
    assert decision.run
    assert decision.outcome == RunOutcome.RAN_AS_LATEST
    assert decision.effective_fire == NOMINAL + timedelta(days=3)
    assert decision.covered == [NOMINAL, *(NOMINAL + d for d in days)]
    # A fire in the future (after now) is not covered.
    future = _decide(MisfirePolicy.CATCHUP_LATEST, timedelta(days=1, hours=1), days)
    assert future.effective_fire == NOMINAL + timedelta(days=1)
    assert len(future.covered) == 2


def test_catchup_latest_leaves_a_fire_with_its_own_run_to_that_run() -> None:
    later = [NOMINAL + timedelta(days=1)]
    decision = decide(
        MisfirePolicy.CATCHUP_LATEST,
        nominal=NOMINAL,
        now=NOMINAL + timedelta(days=1, minutes=5),
        window_s=90000,
        tolerance_s=60,
        later_fires=later,
        fires_with_own_run=later,
    )
    assert not decision.run
    assert decision.outcome == RunOutcome.SUPERSEDED
    assert decision.covered == [NOMINAL]


def test_catchup_latest_after_a_server_outage_covers_the_fires_the_server_dropped() -> None:
    # The server was down for three fires; back up, it started only the latest one, on
    # time: that run stands for the dropped fires too (the watchdog judges them covered).
    dropped = [NOMINAL - timedelta(days=n) for n in (3, 2, 1)]
    decision = decide(
        MisfirePolicy.CATCHUP_LATEST,
        nominal=NOMINAL,
        now=NOMINAL + timedelta(seconds=5),
        window_s=86400,
        tolerance_s=60,
        unstarted_before=dropped,
    )
    assert decision.run and decision.outcome == RunOutcome.RAN_AS_LATEST
    assert decision.effective_fire == NOMINAL
    assert decision.covered == [*dropped, NOMINAL]
    # Other policies do not cover anything but their own fire.
    for policy in (MisfirePolicy.SKIP, MisfirePolicy.CATCHUP_ALL):
        other = decide(
            policy,
            nominal=NOMINAL,
            now=NOMINAL + timedelta(seconds=5),
            window_s=86400,
            tolerance_s=60,
            unstarted_before=dropped,
        )
        assert (other.outcome, other.covered) == (RunOutcome.RAN, [NOMINAL])


def _named(name: str, expr: str, zone: str = "UTC", **extra: Any) -> ActivityDefinition:
    trigger = {**_cron("skip", expr), "timezone": zone}
    return ActivityDefinition.model_validate(
        {"name": name, "handler": "static_report", "trigger_config": trigger, **extra}
    )


def test_an_aligned_burst_gets_a_queue_allowance_a_lone_fire_does_not() -> None:
    fire = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)
    burst = [_named(f"top-{i}", "0 * * * *") for i in range(999)]
    others = [
        _named("berlin-eight", "0 8 * * *", "Europe/Berlin"),  # 07:00 UTC in winter
        _named("half-past", "30 * * * *"),
        _named("off", "0 * * * *", enabled=False),
        ActivityDefinition.model_validate(
            {
                "name": "every-5-min",
                "handler": "static_report",
                "trigger_config": {
                    "trigger_type": "interval",
                    "every_seconds": 300,
                    "misfire_policy": "skip",
                },
            }
        ),
    ]
    everyone = [*burst, *others]
    assert misfire.aligned_at(everyone, fire) == 1001  # 999 hourly, Berlin 08:00, 5-min
    assert misfire.aligned_at(everyone, fire + timedelta(minutes=30)) == 2
    assert misfire.aligned_at(everyone, fire + timedelta(seconds=1)) == 0
    allowance = misfire.queue_allowance_seconds(1001)
    assert allowance == pytest.approx(1000 * misfire.ALIGNED_START_S)
    assert misfire.queue_allowance_seconds(1) == 0.0
    # 90 s late: the last of the burst ran on time; the same lateness alone was missed.
    late = fire + timedelta(seconds=90)
    in_burst = decide(
        MisfirePolicy.SKIP,
        nominal=fire,
        now=late,
        window_s=60 + allowance,
        tolerance_s=60 + allowance,
    )
    alone = decide(MisfirePolicy.SKIP, nominal=fire, now=late, window_s=60, tolerance_s=60)
    assert (in_burst.run, in_burst.outcome) == (True, RunOutcome.RAN)
    assert (alone.run, alone.outcome) == (False, RunOutcome.SKIPPED_MISSED)
    # A worker down past the queue is still caught in the burst.
    gone = decide(
        MisfirePolicy.SKIP,
        nominal=fire,
        now=fire + timedelta(seconds=60 + allowance + 30),
        window_s=60 + allowance,
        tolerance_s=60 + allowance,
    )
    assert gone.outcome == RunOutcome.SKIPPED_MISSED


def test_the_watchdog_counts_the_same_burst_from_the_fires_it_sees() -> None:
    fire = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)
    fires = {f"top-{i}": [fire - timedelta(hours=1), fire] for i in range(300)}
    fires["lone"] = [fire + timedelta(minutes=7)]
    fires["sometimes"] = [fire, fire + timedelta(minutes=7)]
    got = misfire.burst_allowances(fires)
    per = misfire.ALIGNED_START_S
    assert got["top-0"] == pytest.approx(300 * per)  # 301 share 07:00
    assert got["sometimes"] == pytest.approx(300 * per)
    assert got["lone"] == pytest.approx(per)  # shares 07:07 with "sometimes"
    assert misfire.burst_allowances({"alone": [fire]})["alone"] == 0.0
