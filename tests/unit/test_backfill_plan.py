"""Backfill plans: which fires of a range run, by their verdict and the definition's
policy; the recover's one summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from activity_core.domain import ActivityDefinition, RunOutcome, backfill_decision
from activity_core.domain.backfill import (
    Need,
    backfill_run_id,
    is_backfill_run,
    new_plan,
    parse_only,
    plan_items,
    plan_lines,
)
from activity_core.domain.recover import RecoverInput, SeenDelivery, recover_summary, settled
from activity_core.domain.watchdog import FireKind, FireVerdict

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _definition(policy: str, **trigger: Any) -> ActivityDefinition:
    return ActivityDefinition.model_validate(
        {
            "name": f"hourly-{policy.replace('_', '-')}",
            "handler": "static_report",
            "trigger_config": {
                "trigger_type": "cron",
                "cron_expression": "0 * * * *",
                "timezone": "UTC",
                "misfire_policy": policy,
                **trigger,
            },
        }
    )


# Six hourly fires: ran, missing, failed, skipped by policy, still running, missing.
KINDS = [
    FireKind.OK,
    FireKind.MISSING,
    FireKind.FAILED,
    FireKind.SKIPPED_BY_POLICY,
    FireKind.RUNNING,
    FireKind.MISSING,
]
VERDICTS = [FireVerdict(fire=NOW - (6 - i) * HOUR, kind=k) for i, k in enumerate(KINDS)]


def _plan(policy: str, only: list[Need] | None = None, **kw: Any) -> dict[datetime, str]:
    items = plan_items(
        _definition(policy, **kw.pop("trigger", {})),
        VERDICTS,
        only=only or [Need.MISSING, Need.FAILED],
        every=kw.get("every", False),
        force=kw.get("force", False),
        now=NOW,
    )
    assert [i.fire for i in items] == sorted(v.fire for v in VERDICTS)
    return {i.fire: i.action for i in items}


def _fires(actions: dict[datetime, str]) -> list[int]:
    """Which of the six fires run (their index)."""
    order = sorted(actions)
    return [order.index(f) for f, a in actions.items() if a == "run"]


def test_missing_and_failed_fires_run_what_ran_or_is_open_is_left() -> None:
    assert sorted(_fires(_plan("skip"))) == [1, 2, 5]
    assert sorted(_fires(_plan("catchup_all"))) == [1, 2, 5]


def test_skipped_fires_run_only_when_asked() -> None:
    asked = _plan("skip", only=[Need.SKIPPED])
    assert sorted(_fires(asked)) == [3]
    assert sorted(_fires(_plan("skip", only=list(Need)))) == [1, 2, 3, 5]


def test_catchup_latest_runs_the_latest_for_the_others_unless_every() -> None:
    items = plan_items(
        _definition("catchup_latest"),
        VERDICTS,
        only=[Need.MISSING, Need.FAILED],
        every=False,
        force=False,
        now=NOW,
    )
    runs = [i for i in items if i.action == "run"]
    assert [i.fire for i in runs] == [VERDICTS[5].fire]
    assert runs[0].covers == [VERDICTS[1].fire, VERDICTS[2].fire]
    left = {i.fire: i.why for i in items}
    assert "stands for it" in left[VERDICTS[1].fire] and "--every" in left[VERDICTS[1].fire]
    assert sorted(_fires(_plan("catchup_latest", every=True))) == [1, 2, 5]


def test_beyond_max_lateness_needs_force() -> None:
    # 3 h: the fires 6, 5 and 4 hours ago are too old; the 1 h old one is not.
    trigger = {"max_lateness_seconds": 3 * 3600}
    assert sorted(_fires(_plan("catchup_all", trigger=trigger))) == [5]
    assert sorted(_fires(_plan("catchup_all", trigger=trigger, force=True))) == [1, 2, 5]


def test_each_fire_has_one_deterministic_run_id() -> None:
    fire = datetime(2026, 12, 4, 7, 0, 0, 500000, tzinfo=UTC)
    assert backfill_run_id("abc", fire) == backfill_run_id("abc", fire.replace(microsecond=0))
    assert backfill_run_id("abc", fire) != backfill_run_id("abc", fire + HOUR)
    items = plan_items(
        _definition("skip"), VERDICTS, only=list(Need), every=False, force=False, now=NOW
    )
    ids = [i.run_id for i in items if i.action == "run"]
    assert len(set(ids)) == len(ids) == 4
    assert all(i.run_id is None for i in items if i.action == "leave")
    assert is_backfill_run(ids[0]) and not is_backfill_run("activity-run-x")
    plan = new_plan(
        since=NOW - HOUR,
        until=NOW,
        only=list(Need),
        every=False,
        force=False,
        items=items,
        created_by="t",
        now=NOW,
        dry_run=False,
    )
    assert not is_backfill_run(plan.workflow_id)


def test_only_is_parsed_with_a_clear_error() -> None:
    assert parse_only(["missing,skipped"]) == [Need.MISSING, Need.SKIPPED]
    assert parse_only([]) == [Need.MISSING, Need.FAILED]
    with pytest.raises(ValueError, match=r"unknown --only value 'late' \(known: missing"):
        parse_only(["late"])


def test_plan_text_names_every_fire_and_the_count() -> None:
    d = _definition("skip")
    items = plan_items(d, VERDICTS, only=[Need.MISSING], every=False, force=False, now=NOW)
    plan = new_plan(
        since=NOW - 7 * HOUR,
        until=NOW,
        only=[Need.MISSING],
        every=False,
        force=False,
        items=items,
        created_by="test",
        now=NOW,
        dry_run=True,
    )
    text = plan_lines(plan)
    assert text[-1] == "2 to run, 4 left alone"
    failed = next(line for line in text if "failed" in line and "leave" in line)
    assert "`--only failed`" in failed
    assert sum(1 for line in text if line.strip().startswith("RUN")) == 2


def test_a_backfill_run_is_dated_for_its_fire_and_covers_what_the_plan_gave_it() -> None:
    fire = NOW - 5 * HOUR
    alone = backfill_decision(fire, NOW)
    assert (alone.run, alone.outcome, alone.effective_fire) == (True, RunOutcome.RAN, fire)
    assert alone.lateness_s == 5 * 3600
    covering = backfill_decision(fire, NOW, [fire - HOUR, fire - 2 * HOUR])
    assert covering.outcome == RunOutcome.RAN_AS_LATEST
    assert covering.covered == [fire - 2 * HOUR, fire - HOUR, fire]


def test_one_recover_summary_for_every_delivery_it_woke() -> None:
    inp = RecoverInput(
        recover_id="r1",
        delivery_ids=["delivery-a-hub", "delivery-b-hub", "delivery-c-hook"],
        sinks=["hub", "hook"],
        since=NOW - HOUR,
        until=NOW,
        rate_per_second=5,
        settle_seconds=30,
    )
    title, body = recover_summary(
        inp,
        {"delivery-a-hub": "delivered", "delivery-b-hub": "delivered", "delivery-c-hook": "dead"},
    )
    assert title == "Recover r1: 3 deliveries woken, 1 dead, 2 delivered"
    assert "`delivery-c-hook`: dead" in body and "delivery-a-hub" not in body
    assert "(hook, hub)" in body


def test_a_fire_whose_backfill_run_failed_gets_a_new_id_the_next_time() -> None:
    d = _definition("catchup_all")
    fire = NOW - HOUR
    first = backfill_run_id(str(d.id), fire)

    def planned(run_id: str | None) -> str | None:
        v = FireVerdict(fire=fire, kind=FireKind.FAILED, run_id=run_id)
        (item,) = plan_items(d, [v], only=[Need.FAILED], every=False, force=False, now=NOW)
        return item.run_id

    assert planned("activity-run-scheduled") == first  # the scheduled run failed
    assert planned(first) == f"{first}-2"  # its backfill failed too (could not run)
    assert planned(f"{first}-2") == f"{first}-3"
    other = backfill_run_id(str(d.id), fire - HOUR)
    assert planned(other) == first  # another fire's run says nothing about this one


def test_a_backfill_run_never_makes_a_later_fire_an_overlap_skip() -> None:
    from activity_core.domain.classify import classify
    from activity_core.domain.watchdog import DefinitionSeen, RunSeen, ScheduleSeen

    fire = NOW - timedelta(minutes=10)
    old = fire - 2 * HOUR
    backfill = RunSeen(
        workflow_id=backfill_run_id("d1", old),
        nominal=old,
        scheduled_for=old,
        status="running",
        started_at=fire - timedelta(seconds=30),
    )
    seen = DefinitionSeen(
        activity_id="d1",
        name="d",
        policy="skip",
        enabled=True,
        overlap="SKIP",
        catchup_window_s=60,
        tolerance_s=60,
        page_late_s=3600,
        max_runtime_s=3600,
        delivery_alert_s=3600,
        window_start=fire - HOUR,
        expected_fires=[fire],
        runs=[backfill],
        schedule=ScheduleSeen(exists=True),
    )
    (verdict,) = classify(seen, NOW).verdicts
    assert verdict.kind == FireKind.MISSING, verdict


def test_a_woken_dead_delivery_is_settled_only_once_it_tried_again() -> None:
    dead = SeenDelivery(state="dead", attempts=3)
    assert not settled(dead, SeenDelivery(state="dead", attempts=3))  # not tried yet
    assert settled(dead, SeenDelivery(state="dead", attempts=4))  # tried, dead again
    assert settled(dead, SeenDelivery(state="delivered", attempts=4))
    assert settled(None, SeenDelivery(state="gone"))
    assert not settled(dead, SeenDelivery(state="dead"))  # attempts unknown: still dead
