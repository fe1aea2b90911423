"""Mutes and maintenance windows on constructed passes: what is held, what the summary says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from activity_core.domain import WatchdogState, advance, classify
from activity_core.domain.definition import MaintenanceWindow
from activity_core.domain.mute import ALL, Mute, muted_targets, parse_duration
from activity_core.domain.sink_alerts import SinkProblem
from activity_core.domain.watchdog import Severity
from tests.unit.test_watchdog_judge import fire, run, seen

FAILED = {"outcome": None, "status": "failed"}


def _mute(target: str, start: datetime, minutes: int, **kw: object) -> Mute:
    return Mute(
        mute_id=f"m-{target}",
        target=target,
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        reason="deploy",
        created_at=start,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("2h", 7200), ("1d12h", 129600), ("45s", 45)]
)
def test_durations_read_as_operators_write_them(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["soon", "2x", "0m", "91d", "2h and a bit", ""])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|90 days"):
        parse_duration(text)


def test_a_maintenance_window_in_its_zone_opens_and_closes() -> None:
    # Sundays 02:00-04:00 Berlin time (CET in winter: 01:00-03:00 UTC).
    w = MaintenanceWindow(cron="0 2 * * SUN", duration_seconds=7200, timezone="Europe/Berlin")
    sunday = datetime(2026, 12, 6, tzinfo=UTC)
    assert w.open_at(sunday + timedelta(hours=0, minutes=59)) is None
    assert w.open_at(sunday + timedelta(hours=1)) == sunday + timedelta(hours=1)
    assert w.open_at(sunday + timedelta(hours=2, minutes=59)) == sunday + timedelta(hours=1)
    assert w.open_at(sunday + timedelta(hours=3)) is None
    assert w.open_at(sunday + timedelta(days=1, hours=2)) is None  # Monday


def test_a_bad_maintenance_window_names_the_field() -> None:
    with pytest.raises(ValidationError, match="cron expression"):
        MaintenanceWindow(cron="every sunday", duration_seconds=3600)
    with pytest.raises(ValidationError, match="IANA"):
        MaintenanceWindow(cron="0 2 * * *", duration_seconds=3600, timezone="Mars/Olympus")


def test_only_mutes_in_force_count_and_an_early_end_ends_them() -> None:
    now = fire(0)
    mutes = [
        _mute("a", now - timedelta(minutes=5), 10),
        _mute("b", now + timedelta(minutes=5), 10),  # to come
        _mute("c", now - timedelta(minutes=20), 10),  # over
        _mute("d", now - timedelta(minutes=5), 10, ended_early_at=now - timedelta(minutes=1)),
    ]
    window = MaintenanceWindow(cron="0 7 * * *", duration_seconds=3600)
    found = muted_targets(mutes, {"e": [window]}, now)
    assert set(found) == {"a", "e"}
    assert "deploy" in found["a"] and "maintenance window" in found["e"]


def test_a_muted_page_is_held_recorded_and_summarised_once_when_the_mute_ends() -> None:
    runs = [run(0, **FAILED)]
    muted = {"id-demo": "muted until 08:00 UTC: deploy"}
    now = fire(0) + timedelta(seconds=30)
    first = advance(
        WatchdogState(), [classify(seen(1, runs), now)], now, muted=muted, names={"id-demo": "demo"}
    )
    assert first.raised == [] and [a.kind for a in first.held] == ["failed"]
    (held,) = first.state.open_alerts
    assert held.muted == muted["id-demo"]
    later = fire(1) + timedelta(seconds=30)
    during = advance(first.state, [classify(seen(2, [*runs, run(1)]), later)], later, muted=muted)
    assert during.recovered == [] and [n.kind for n in during.held] == ["recovered"]
    end = fire(2) + timedelta(seconds=30)
    over = advance(during.state, [classify(seen(3, [*runs, run(1), run(2)]), end)], end, muted={})
    (summary,) = over.recovered
    assert summary.kind == "mute_ended" and summary.severity == Severity.NOTE  # all fixed
    assert (
        "2 alert(s) and notice(s) held back" in summary.detail
        and "still open" not in summary.detail
    )
    assert over.state.mute_spans == {}
    quiet = advance(over.state, [classify(seen(3, [*runs, run(1), run(2)]), end)], end, muted={})
    assert quiet.recovered == [] and quiet.raised == []


def test_a_mute_of_everything_holds_sink_alerts_too_and_pages_if_they_outlast_it() -> None:
    now = fire(0) + timedelta(seconds=30)
    problem = {
        "hub": SinkProblem(sink="hub", severity=Severity.PAGE, dead={"demo": 3}, oldest=fire(0))
    }
    everything = {ALL: "muted: cluster upgrade"}
    first = advance(WatchdogState(), [], now, sink_problems=problem, muted=everything)
    assert first.raised == [] and [a.kind for a in first.held] == ["sink_dead"]
    later = now + timedelta(minutes=5)
    over = advance(first.state, [], later, sink_problems=problem, muted={})
    (summary,) = over.recovered
    assert (summary.activity_name, summary.severity) == ("everything", Severity.PAGE)
    assert "still open" in summary.detail and "sink hub" in summary.detail
