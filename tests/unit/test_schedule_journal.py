"""Fires owed by a schedule, judged by the sync journal's state at each fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from activity_core.domain.ledger import ScheduleChange
from activity_core.domain.schedule_journal import expected_fires, segments

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def entry(action: str, minutes: int, fp: str = "a", every: int | None = 60) -> ScheduleChange:
    trigger = (
        {"trigger_type": "interval", "every_seconds": every, "misfire_policy": "skip"}
        if every is not None and action != "pause" and action != "delete"
        else None
    )
    return ScheduleChange(
        schedule_id="s",
        label="d",
        action=action,  # type: ignore[arg-type]
        fingerprint=fp,
        actor="test",
        at=at(minutes),
        trigger=trigger,
    )


def every_minute(trigger: dict[str, Any], start: datetime, end: datetime) -> list[datetime]:
    step = timedelta(seconds=trigger["every_seconds"])
    t, out = T0, []
    while t < end:
        if t >= start:
            out.append(t)
        t += step
    return out


def test_a_sync_pause_owes_nothing_and_an_older_spec_counts_by_its_own_trigger() -> None:
    journal = [
        entry("create", 0, fp="a", every=60),  # every minute
        entry("update", 10, fp="b", every=300),  # every 5 minutes from here
        entry("pause", 20, fp="b"),  # the definition was disabled
        entry("unpause", 30, fp="b", every=300),
    ]
    now = at(40)
    server = [at(m) for m in range(0, 41, 5)]  # the current spec, as the server has it
    fires, by_hand = expected_fires(
        segments(journal, now),
        current_fingerprint="b",
        server_fires=server,
        start=at(-30),
        now=now,
        local_fires=every_minute,
    )
    assert fires == [
        *(at(m) for m in range(0, 10)),  # the old spec: every minute until the update
        at(10),
        at(15),  # the new spec until the pause
        at(30),
        at(35),  # after the unpause (40 is now: not yet judged)
    ]
    assert by_hand == []  # the unpause followed a sync pause


def test_an_unpause_without_a_sync_pause_means_the_schedule_was_paused_by_hand() -> None:
    journal = [entry("create", 0), entry("unpause", 30)]
    fires, by_hand = expected_fires(
        segments(journal, at(40)),
        current_fingerprint="a",
        server_fires=[at(m) for m in range(0, 41)],
        start=at(0),
        now=at(40),
        local_fires=every_minute,
    )
    # Every fire of the stretch is owed (the schedule should have run) ...
    assert fires[:3] == [at(0), at(1), at(2)] and at(29) in fires
    # ... and the stretch before the unpause is the one paused by hand.
    assert by_hand == [(at(0), at(30))]


def test_fires_before_the_first_write_the_journal_knows_are_not_owed() -> None:
    fires, _ = expected_fires(
        segments([entry("create", 20)], at(30)),
        current_fingerprint="a",
        server_fires=[at(m) for m in range(0, 31)],
        start=at(0),
        now=at(30),
        local_fires=every_minute,
    )
    assert fires[0] == at(20)
