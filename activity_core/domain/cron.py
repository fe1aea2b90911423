"""Local cron arithmetic: largest gap between fires and DST gap/overlap warnings.

The *server* remains the authority on when a schedule fires (see
``ListScheduleMatchingTimes``); these helpers only derive defaults and warnings at
validation time, before any schedule exists. Pure functions, no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from croniter import croniter

#: Enough fires to see every gap of a regular expression (weekly pattern of minute fires).
MAX_FIRES = 12_000
#: Far enough to see a yearly expression fire twice.
MAX_SPAN = timedelta(days=800)


def fire_times(
    expression: str, zone: str, start: datetime, *, limit: int = MAX_FIRES
) -> list[datetime]:
    """Fire times (aware, in ``zone``) after ``start``, at most ``limit``, within MAX_SPAN."""
    tz = ZoneInfo(zone)
    it = croniter(expression, start.astimezone(tz))
    end = start + MAX_SPAN
    out: list[datetime] = []
    while len(out) < limit:
        nxt = it.get_next(datetime)
        if nxt > end:
            break
        out.append(nxt)
    return out


def largest_gap(expression: str, zone: str, start: datetime | None = None) -> timedelta:
    """Largest interval between consecutive fires of ``expression`` in ``zone``.

    A daily expression gives 25 h in a zone with DST (the fall-back day); a weekday-only
    one gives about 3 days (Friday to Monday).
    """
    base = start or datetime(2026, 1, 1, tzinfo=UTC)
    fires = fire_times(expression, zone, base)
    if len(fires) < 2:
        return MAX_SPAN
    # Subtract in UTC: same-zone aware arithmetic in Python ignores offset changes.
    utc = [f.astimezone(UTC) for f in fires]
    return max(b - a for a, b in pairwise(utc))


def _transitions(
    zone: str, start: datetime, days: int
) -> list[tuple[datetime, timedelta, timedelta]]:
    """UTC instants where ``zone``'s offset changes, with the offsets before and after."""
    tz = ZoneInfo(zone)
    out = []
    t = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    prev = t.astimezone(tz).utcoffset()
    for _ in range(days * 24):
        nxt = t + timedelta(hours=1)
        off = nxt.astimezone(tz).utcoffset()
        if off != prev and off is not None and prev is not None:
            lo, hi = t, nxt  # offset(lo) == prev, offset(hi) == off: bisect to the minute
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == prev:
                    lo = mid
                else:
                    hi = mid
            out.append((hi.replace(second=0, microsecond=0), prev, off))
        prev, t = off, nxt
    return out


def dst_warnings(expression: str, zone: str, start: datetime, days: int = 366) -> list[str]:
    """Warnings for fires that will not happen (DST gap) or happen twice (DST overlap)."""
    warnings = []
    for instant, before, after in _transitions(zone, start, days):
        local_before = (instant + before).replace(tzinfo=None)
        local_after = (instant + after).replace(tzinfo=None)
        lo, hi = sorted((local_before, local_after))
        it = croniter(expression, lo - timedelta(seconds=1))
        hits: list[datetime] = []
        while True:
            nxt = it.get_next(datetime)
            if nxt >= hi:
                break
            hits.append(nxt)
        if not hits:
            continue
        when = ", ".join(h.strftime("%Y-%m-%d %H:%M") for h in hits[:3])
        if after > before:
            warnings.append(
                f"{when} {zone} does not exist (clocks jump forward): that fire will not happen"
            )
        else:
            warnings.append(
                f"{when} {zone} happens twice (clocks go back): that fire happens twice"
            )
    return warnings
