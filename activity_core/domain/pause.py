"""``watch.pause_after``: after K failed fires in a row the watchdog pauses the schedule
and pages saying so. Pure: the pass decides, its activity pauses."""

from __future__ import annotations

from datetime import datetime

from activity_core.domain.constants import SCHEDULE_ID_PREFIX
from activity_core.domain.schedule_spec import WATCHDOG_PAUSE_MARK
from activity_core.domain.watchdog import (
    Alert,
    DefinitionSeen,
    DefinitionStatus,
    FireKind,
    Severity,
    alert_id,
)

FAILING = frozenset({FireKind.FAILED, FireKind.TOO_FAST})
"""Fires that count toward ``pause_after`` (a run that ran and failed, or did nothing)."""


def failed_in_a_row(status: DefinitionStatus) -> int:
    """Failed fires at the end of the judged ones (fires not judged yet are skipped)."""
    n = 0
    for v in reversed(status.verdicts):
        if v.kind in (FireKind.DUE, FireKind.RUNNING, FireKind.UNKNOWN):
            continue
        if v.kind not in FAILING:
            break
        n += 1
    return n


def pause_orders(
    pairs: list[tuple[DefinitionSeen, DefinitionStatus, int | None]], now: datetime
) -> tuple[dict[str, str], list[Alert]]:
    """(schedule id -> pause note, one page per schedule to pause) for each definition
    whose failed streak reached its ``pause_after`` while its schedule runs."""
    orders: dict[str, str] = {}
    pages: list[Alert] = []
    for seen, status, limit in pairs:
        if limit is None or not seen.enabled or not seen.schedule.exists or seen.schedule.paused:
            continue
        streak = failed_in_a_row(status)
        if streak < limit:
            continue
        last = max(v.fire for v in status.verdicts if v.kind in FAILING)
        sid = f"{SCHEDULE_ID_PREFIX}{seen.activity_id}"
        orders[sid] = (
            f"{WATCHDOG_PAUSE_MARK} after {streak} failed fires in a row (last "
            f"{last:%Y-%m-%d %H:%M} UTC); unpause when fixed: temporal schedule toggle "
            f"--schedule-id {sid} --unpause --reason fixed"
        )
        pages.append(
            Alert(
                alert_id=alert_id(seen.name, "paused_after_failures", last.isoformat()),
                activity_id=seen.activity_id,
                activity_name=seen.name,
                kind="paused_after_failures",
                severity=Severity.PAGE,
                opened_at=now,
                detail=f"schedule paused after {streak} failed fires in a row "
                f"(watch.pause_after {limit})",
            )
        )
    return orders, pages
