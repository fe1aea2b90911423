"""Which fires a schedule owed, judged by the state in force at each fire: the journal of
the writes ``sync`` made (create, update, pause, unpause, delete; ``schedule_changes``).

Without it the watchdog could only count from the schedule's last change, so a sync that
unpaused or updated a schedule hid the fires before it. With it, a fire is expected when
the journal says the schedule was active at that time, under the spec then in force; a
sync pause (the definition was disabled) owes nothing; and an unpause that no sync pause
preceded means the schedule had been paused by hand, which is the cause of any fire of
that stretch that did not run. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from activity_core.domain.ledger import ScheduleChange

ACTIVE = ("create", "update", "unpause")


@dataclass(frozen=True)
class Segment:
    """A stretch of time with one schedule state."""

    begin: datetime
    end: datetime
    """Exclusive."""
    active: bool
    """The definition wanted the schedule running (False: disabled or deleted by sync)."""
    fingerprint: str
    """The spec in force (the sync fingerprint)."""
    trigger: dict[str, Any] | None
    """That spec's trigger, when the journal kept it."""
    paused_by_hand_until: datetime | None = None
    """A sync unpaused the schedule at this time, with no sync pause before: somebody had
    paused it by hand within this stretch."""


def segments(journal: Sequence[ScheduleChange], now: datetime) -> list[Segment]:
    """The journal as consecutive segments from its first entry to ``now``."""
    entries = sorted(journal, key=lambda e: e.at)
    out: list[Segment] = []
    trigger: dict[str, Any] | None = None
    for i, entry in enumerate(entries):
        end = entries[i + 1].at if i + 1 < len(entries) else now
        if entry.trigger is not None:
            trigger = entry.trigger
        nxt = entries[i + 1] if i + 1 < len(entries) else None
        by_hand = (
            nxt.at
            if nxt is not None and nxt.action == "unpause" and entry.action in ACTIVE
            else None
        )
        out.append(
            Segment(
                begin=entry.at,
                end=end,
                active=entry.action in ACTIVE,
                fingerprint=entry.fingerprint,
                trigger=trigger if entry.action in ACTIVE else None,
                paused_by_hand_until=by_hand,
            )
        )
    return [s for s in out if s.end > s.begin]


def expected_fires(
    segs: Sequence[Segment],
    *,
    current_fingerprint: str,
    server_fires: Sequence[datetime],
    start: datetime,
    now: datetime,
    local_fires: Callable[[dict[str, Any], datetime, datetime], list[datetime]],
) -> tuple[list[datetime], list[tuple[datetime, datetime]]]:
    """(the fires owed in [start, now], the stretches paused by hand).

    Stretches under the current spec take the server's own fire times; stretches under an
    older spec are computed from the trigger the journal kept (none when it kept none).
    """
    fires: set[datetime] = set()
    by_hand: list[tuple[datetime, datetime]] = []
    for seg in segs:
        lo, hi = max(seg.begin, start), min(seg.end, now)
        if hi <= lo or not seg.active:
            continue
        if seg.paused_by_hand_until is not None:
            by_hand.append((lo, seg.paused_by_hand_until))
        if seg.fingerprint == current_fingerprint:
            fires.update(f for f in server_fires if lo <= f < hi)
        elif seg.trigger is not None:
            fires.update(f for f in local_fires(seg.trigger, lo, hi) if lo <= f < hi)
    return sorted(fires), by_hand
