"""The local cron arithmetic gives exactly the server's fire times: two years of
``ListScheduleMatchingTimes`` for expressions and zones chosen for their DST quirks
(a dropped fire, a moved one, a repeated hour walked twice, transitions at midnight and
by half an hour), and the largest gap and DST warnings that follow from them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.testing import WorkflowEnvironment

from activities.schedule import matching_times
from activity_core.domain.cron import dst_warnings, fire_times, largest_gap

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2028, 1, 1, tzinfo=UTC)
EXPRESSIONS = [
    "30 2 * * *",
    "0,30 1-3 * * *",
    "0 2 * * *",
    "45 1 * * *",
    "*/20 0-3 * * SUN",
    "0 0 1 * MON",
    "20 7 * * 1-5",
    "0 */6 * * *",
    "15 0 * * *",
]
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Havana",
    "America/Santiago",
    "Pacific/Chatham",
    "Asia/Tehran",
    "UTC",
]


def _transition_days(zone: str) -> list[datetime]:
    """The UTC hours of 2027 at which ``zone``'s offset changes."""
    tz = ZoneInfo(zone)
    out = []
    t = datetime(2027, 1, 1, tzinfo=UTC)
    while t.year == 2027:
        if (t + timedelta(hours=1)).astimezone(tz).utcoffset() != t.astimezone(tz).utcoffset():
            out.append(t)
        t += timedelta(hours=1)
    return out


async def _server_window(
    client: Client, expression: str, zone: str, start: datetime, end: datetime
) -> list[datetime]:
    return await _server_times(client, expression, zone, start, end)


async def _server_times(
    client: Client, expression: str, zone: str, first: datetime = START, last: datetime = END
) -> list[datetime]:
    sid = f"cron-oracle-{uuid.uuid4().hex[:8]}"
    await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow("Nothing", id=f"{sid}-run", task_queue="none"),
            spec=ScheduleSpec(cron_expressions=[expression], time_zone_name=zone),
            state=ScheduleState(paused=True),
        ),
    )
    try:
        out: list[datetime] = []
        start = first
        while start < last:
            end = min(start + timedelta(days=60), last)
            out += await matching_times(client, sid, start, end)
            start = end
        return sorted(set(out))
    finally:
        await client.get_schedule_handle(sid).delete()


def _local_times(expression: str, zone: str) -> list[datetime]:
    out: list[datetime] = []
    at = START - timedelta(seconds=1)
    while True:
        chunk = [f.astimezone(UTC) for f in fire_times(expression, zone, at, limit=5000)]
        out += [f for f in chunk if f <= END]
        if not chunk or chunk[-1] >= END:
            return out
        at = chunk[-1]


@pytest.mark.parametrize("zone", ZONES)
async def test_local_fire_times_are_the_server_s_for_two_years(
    env: WorkflowEnvironment, zone: str
) -> None:
    for expression in EXPRESSIONS:
        # Both ends of the span excluded: the server's bounds are not both inclusive.
        server = [t for t in await _server_times(env.client, expression, zone) if START < t < END]
        local = [t for t in _local_times(expression, zone) if START < t < END]
        assert server, (expression, zone)
        missing = sorted(set(server) - set(local))[:3]
        extra = sorted(set(local) - set(server))[:3]
        assert (missing, extra) == ([], []), (expression, zone)


def test_the_daily_triage_s_window_and_warnings_follow_the_server() -> None:
    # The spring-forward gap drops the 02:30 fire: 47 h between fires, not 24 h.
    assert largest_gap("30 2 * * *", "Europe/Berlin") == timedelta(hours=47)
    warnings = dst_warnings("30 2 * * *", "Europe/Berlin", datetime(2027, 1, 1, tzinfo=UTC))
    assert warnings == [
        "2027-03-28 02:30 Europe/Berlin does not exist (clocks jump forward): the scheduler "
        "skips that fire",
        "2027-10-31 02:30 Europe/Berlin happens twice (clocks go back): the scheduler fires "
        "once, at the second",
    ]
    ny = dst_warnings("0,30 1-3 * * *", "America/New_York", datetime(2027, 1, 1, tzinfo=UTC))
    assert (
        "2027-11-07 01:00, 01:30 America/New_York happens twice (clocks go back): the "
        "scheduler fires at both"
    ) in ny
    (moved,) = dst_warnings("0 2 * * *", "Australia/Lord_Howe", datetime(2027, 1, 1, tzinfo=UTC))
    assert moved.endswith("the scheduler fires at 02:30 instead")


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
async def test_minute_expressions_match_the_server_across_both_transitions(
    env: WorkflowEnvironment, zone: str
) -> None:
    """Every-minute fires on the two DST days, where the scheduler's walk through the
    repeated hour is at its oddest."""
    for expression in ("* * * * *", "*/7 0-4 * * *"):
        for day in _transition_days(zone):
            lo, hi = day - timedelta(hours=6), day + timedelta(hours=6)
            server = [
                t for t in await _server_window(env.client, expression, zone, lo, hi) if lo < t < hi
            ]
            local = [f.astimezone(UTC) for f in fire_times(expression, zone, lo, limit=2000)]
            assert [t for t in local if lo < t < hi] == server, (expression, zone, day)
