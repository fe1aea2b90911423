"""``actcore status`` text: times in each definition's zone with the zone named, the
deliveries and alerts per definition, every line within 100 columns."""

from __future__ import annotations

from datetime import UTC, datetime

from activity_core.domain import DefinitionSummary
from activity_core.domain.watchdog import FireKind, FireVerdict
from activity_core.services.status import StatusReport, local_time


def _report(summary: DefinitionSummary) -> StatusReport:
    return StatusReport(
        at=datetime(2026, 11, 24, 7, 30, tzinfo=UTC),
        last_pass_at=datetime(2026, 11, 24, 7, 29, 30, tzinfo=UTC),
        interval_s=60,
        summaries=[summary],
        open_alerts=[],
    )


def test_times_are_shown_in_the_definitions_zone_with_the_zone_named() -> None:
    summary = DefinitionSummary(
        activity_id="a1",
        name="daily-statehub-wsjf-triage-with-a-rather-long-name-for-its-team",
        policy="catchup_latest",
        enabled=True,
        zone="Europe/Berlin",
        last=FireVerdict(
            fire=datetime(2026, 11, 24, 6, 0, tzinfo=UTC),
            kind=FireKind.LATE,
            lateness_s=312,
        ),
        next_fire=datetime(2026, 11, 25, 6, 0, tzinfo=UTC),
        deliveries_waiting=3,
        deliveries_dead=1,
    )
    text = _report(summary).render()
    assert "last 2026-11-24 07:00 CET late (312 s late)" in text
    assert "next 2026-11-25 07:00 CET" in text
    assert "(catchup_latest, Europe/Berlin)" in text
    assert "deliveries waiting 3, dead 1" in text
    assert all(len(line) <= 100 for line in text.splitlines()), text


def test_summer_time_and_seconds_are_shown_as_they_are() -> None:
    summer = datetime(2026, 7, 1, 5, 0, 30, tzinfo=UTC)
    assert local_time(summer, "Europe/Berlin") == "2026-07-01 07:00:30 CEST"
    assert local_time(summer, "America/New_York") == "2026-07-01 01:00:30 EDT"
    assert local_time(summer.replace(second=0), "UTC") == "2026-07-01 05:00 UTC"
