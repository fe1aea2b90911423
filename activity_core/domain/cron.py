"""Cron arithmetic as the Temporal scheduler does it: fire times, the largest gap between
fires, and the DST days on which a fire is dropped, moved or repeated.

The server is the authority on when a schedule fires (``ListScheduleMatchingTimes``);
this module reproduces its rules so defaults and warnings can be derived before any
schedule exists, and a test compares both over two years for a set of zones and
expressions:

- every field must match, day of month *and* day of week (not the classic "either");
- a wall-clock time is turned into an instant the way Go's ``time.Date`` does it: a time
  inside a spring-forward gap takes the offset from before the jump, and counts only if it
  still shows the same hour (``30 2`` in Berlin is dropped that day, ``0 2`` on Lord Howe
  fires at 02:30); a repeated fall-back time takes the offset its wall-clock reading has
  when read as UTC (Berlin: the second 02:30, New York: the first 01:00);
- a repeated hour is walked twice only when the walk carries minute by minute across its
  end (``0,30 1-3`` in New York fires at both 01:00s), not when it jumps to a matching hour;
- the day of week is read from that instant too: where DST skips midnight (Havana,
  Santiago), the day reads as the evening before, so a Sunday-only expression does not
  fire on that Sunday at all.

Pure functions, no I/O.
"""

from __future__ import annotations

import calendar
import functools
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

#: Enough fires to see every gap of a regular expression (weekly pattern of minute fires).
MAX_FIRES = 12_000
#: Far enough to see a yearly expression fire twice.
MAX_SPAN = timedelta(days=800)
MAX_YEAR = 2100

_MONTHS = [m.lower() for m in calendar.month_name[1:]]
_DAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
_HOUR = timedelta(hours=1)


class CronError(ValueError):
    """A cron expression the scheduler would refuse (the message says which field)."""


def _value(text: str, lo: int, hi: int, names: list[str] | None, min_prefix: int) -> int:
    if names is not None and len(text) >= min_prefix and text.isalpha():
        low = text.lower()
        for i, name in enumerate(names):
            if name.startswith(low):
                return i + (1 if names is _MONTHS else 0)
    if not (text.isascii() and text.isdigit()):
        raise CronError(f"{text!r} is not a number" + (" or a name" if names else ""))
    value = int(text)
    if not lo <= value <= hi:
        raise CronError(f"{value} is out of range {lo}-{hi}")
    return value


def _field(
    text: str, lo: int, hi: int, names: list[str] | None = None, min_prefix: int = 3
) -> frozenset[int]:
    """The values a field matches (``*``, ``x``, ``x-z``, ``x/y``, ``x-z/y``, lists)."""
    out: set[int] = set()
    for part in text.split(","):
        step = 1
        has_step = "/" in part
        if has_step:
            part, _, raw_step = part.partition("/")
            if not (raw_step.isascii() and raw_step.isdigit()) or int(raw_step) < 1:
                raise CronError(f"step {raw_step!r} must be a whole number of at least 1")
            step = int(raw_step)
        if part == "*":
            start, end = lo, hi
        elif "-" in part:
            first, _, last = part.partition("-")
            start = _value(first, lo, hi, names, min_prefix)
            end = _value(last, start, hi, names, min_prefix)
        else:
            start = _value(part, lo, hi, names, min_prefix)
            end = hi if has_step else start
        out.update(range(start, end + 1, step))
    return frozenset(out)


@dataclass(frozen=True)
class CronSpec:
    """A parsed five-field expression: the values each field matches."""

    minute: frozenset[int]
    hour: frozenset[int]
    day: frozenset[int]
    month: frozenset[int]
    weekday: frozenset[int]
    """0 = Sunday (7 is accepted as Sunday too)."""
    minutes: tuple[int, ...] = ()
    """Matching minutes, in order."""
    hours: tuple[int, ...] = ()
    """Matching hours, in order."""

    @classmethod
    def parse(cls, expression: str) -> CronSpec:
        """Parse ``minute hour day-of-month month day-of-week``.

        Raises:
            CronError: Wrong number of fields or a field the scheduler refuses.
        """
        fields = expression.split()
        if len(fields) != 5:
            raise CronError(f"needs 5 fields, got {len(fields)}")
        names = ("minute", "hour", "day of month", "month", "day of week")
        specs = [(0, 59, None), (0, 23, None), (1, 31, None), (1, 12, _MONTHS), (0, 7, _DAYS)]
        parsed = []
        for name, text, (lo, hi, words) in zip(names, fields, specs, strict=True):
            try:
                parsed.append(_field(text, lo, hi, words, 2 if words is _DAYS else 3))
            except CronError as exc:
                raise CronError(f"{name} {text!r}: {exc}") from None
        weekday = parsed[4] | ({0} if 7 in parsed[4] else frozenset())
        return cls(
            parsed[0],
            parsed[1],
            parsed[2],
            parsed[3],
            weekday,
            tuple(sorted(parsed[0])),
            tuple(sorted(parsed[1])),
        )


def _after(values: tuple[int, ...], current: int, end: int) -> int:
    """The first value at or after ``current``, or ``end`` when none is left."""
    i = bisect_left(values, current)
    return values[i] if i < len(values) else end


def go_date(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant Go's ``time.Date`` gives a naive wall-clock time in ``tz`` (UTC)."""
    as_utc = wall.replace(tzinfo=UTC)
    offset = as_utc.astimezone(tz).utcoffset() or timedelta(0)
    instant = as_utc - offset
    actual = instant.astimezone(tz).utcoffset() or timedelta(0)
    if actual != offset:  # the guess fell in another period: use the instant's own offset
        instant = as_utc - actual
    return instant


def _weekday(wall: datetime, tz: ZoneInfo) -> int:
    """Day of week (0 = Sunday) of a wall-clock time as the scheduler reads it: through
    ``go_date``, so a midnight skipped by DST reads as the evening before."""
    return (go_date(wall, tz).astimezone(tz).weekday() + 1) % 7


def _local_hour(instant: datetime, tz: ZoneInfo) -> int:
    return instant.astimezone(tz).hour


def next_fire(spec: CronSpec, tz: ZoneInfo, after: datetime) -> datetime | None:
    """The first fire strictly after ``after`` (UTC), as the scheduler computes it."""
    local = after.astimezone(tz)
    y, mo, d, h, m = local.year, local.month, local.day, local.hour, local.minute
    # In the second copy of a repeated hour, the walk is one hour behind its wall clock.
    repeat = _HOUR if (after - _HOUR).astimezone(tz).hour == h else timedelta(0)
    m += 1  # minute resolution: the next whole minute after ``after``
    while True:
        if m >= 60:
            midnight = datetime(y, mo, d)
            before = go_date(midnight + timedelta(hours=h), tz)
            h, m = h + 1, 0
            following = go_date(midnight + timedelta(hours=h), tz)  # hour 24: next midnight
            if repeat == timedelta(0) and following - before > _HOUR:
                h, repeat = h - 1, _HOUR  # walked past a repeated hour: walk it again
            else:
                repeat = timedelta(0)
        if h >= 24:
            d, h = d + 1, 0
        if d > calendar.monthrange(y, mo)[1]:
            mo, d = mo + 1, 1
        if mo > 12:
            y, mo = y + 1, 1
        if y > MAX_YEAR:
            return None
        if mo not in spec.month:
            mo, d, h, m, repeat = mo + 1, 1, 0, 0, timedelta(0)
            if mo > 12:
                y, mo = y + 1, 1
            continue
        if d not in spec.day or _weekday(datetime(y, mo, d, h, m), tz) not in spec.weekday:
            d, h, m, repeat = d + 1, 0, 0, timedelta(0)
            continue
        if h not in spec.hour:
            h, m, repeat = _after(spec.hours, h, 24), 0, timedelta(0)
            continue
        if m not in spec.minute:
            m = _after(spec.minutes, m, 60)  # 60 when none is left: the hour carries
            continue
        instant = go_date(datetime(y, mo, d, h, m), tz)
        if _local_hour(instant, tz) != h:  # jumped over by a spring-forward gap
            h, m = h + 1, 0
            continue
        return instant + repeat


@lru_cache(maxsize=256)
def _spec(expression: str) -> CronSpec:
    return CronSpec.parse(expression)


def fire_times(
    expression: str, zone: str, start: datetime, *, limit: int = MAX_FIRES
) -> list[datetime]:
    """Fire times (aware, in ``zone``) after ``start``, at most ``limit``, within MAX_SPAN."""
    spec = _spec(expression)
    tz = ZoneInfo(zone)
    end = start + MAX_SPAN
    out: list[datetime] = []
    at = start.astimezone(UTC)
    while len(out) < limit:
        nxt = next_fire(spec, tz, at)
        if nxt is None or nxt > end:
            break
        out.append(nxt.astimezone(tz))
        at = nxt
    return out


def fires_ever(expression: str, years: int = 8) -> bool:
    """Whether the expression fires at all within ``years`` of 2000 (30 February never)."""
    spec = _spec(expression)
    first = next_fire(spec, ZoneInfo("UTC"), datetime(2000, 1, 1, tzinfo=UTC))
    return first is not None and first.year < 2000 + years


def largest_gap(expression: str, zone: str, start: datetime | None = None) -> timedelta:
    """Largest interval between consecutive fires of ``expression`` in ``zone``.

    A daily expression gives 25 h in a zone with DST (the fall-back day), or 47 h when the
    spring-forward gap drops that day's fire; a weekday-only one about 3 days.
    """
    base = start or datetime(2026, 1, 1, tzinfo=UTC)
    fires = fire_times(expression, zone, base)
    if len(fires) < 2:
        return MAX_SPAN
    return max(b - a for a, b in pairwise(f.astimezone(UTC) for f in fires))


def _transitions(zone: str, start: datetime, days: int) -> tuple[datetime, ...]:
    """UTC instants (to the minute) where ``zone``'s offset changes."""
    return _transitions_from(
        zone, start.astimezone(UTC).replace(minute=0, second=0, microsecond=0), days
    )


@functools.lru_cache(maxsize=256)
def _transitions_from(zone: str, hour: datetime, days: int) -> tuple[datetime, ...]:
    """:func:`_transitions` from a whole hour: every definition of a zone checked in the
    same hour walks the year once (a directory of 1,000 definitions read per lookup)."""
    tz = ZoneInfo(zone)
    out = []
    t = hour
    prev = t.astimezone(tz).utcoffset()
    for _ in range(days * 24):
        nxt = t + _HOUR
        off = nxt.astimezone(tz).utcoffset()
        if off != prev:
            lo, hi = t, nxt
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == prev:
                    lo = mid
                else:
                    hi = mid
            out.append(hi.replace(second=0, microsecond=0))
        prev, t = off, nxt
    return tuple(out)


def _times(walls: list[datetime]) -> str:
    """``02:00, 02:30`` (the first three, and how many more)."""
    shown = ", ".join(f"{w:%H:%M}" for w in walls[:3])
    return shown + (f" and {len(walls) - 3} more" if len(walls) > 3 else "")


def dst_warnings(expression: str, zone: str, start: datetime, days: int = 366) -> list[str]:
    """What the scheduler does on the DST days ahead: fires dropped (spring-forward gap),
    moved to a later wall time, or run twice (a repeated hour walked twice)."""
    spec = _spec(expression)
    tz = ZoneInfo(zone)
    warnings = []
    for instant in _transitions(zone, start, days):
        lo, hi = instant - timedelta(hours=3), instant + timedelta(hours=3)
        fires = []
        at = lo
        while (nxt := next_fire(spec, tz, at)) is not None and nxt <= hi:
            fires.append(nxt)
            at = nxt
        walls = [f.astimezone(tz).replace(tzinfo=None) for f in fires]
        # Wall-clock times the expression names in the window, each once.
        wanted, w = [], (lo + timedelta(minutes=1)).astimezone(tz).replace(tzinfo=None)
        w_end = hi.astimezone(tz).replace(tzinfo=None)
        while w <= w_end:
            if (
                w.minute in spec.minute
                and w.hour in spec.hour
                and w.day in spec.day
                and w.month in spec.month
                and (w.weekday() + 1) % 7 in spec.weekday
            ):
                wanted.append(w)
            w += timedelta(minutes=1)
        day = instant.astimezone(tz).strftime("%Y-%m-%d")
        dropped = [x for x in wanted if x not in walls]
        moved = [x for x in walls if x not in wanted]
        twice = sorted({x for x in walls if walls.count(x) > 1})
        once: dict[str, list[datetime]] = {"first": [], "second": []}
        for f, x in zip(fires, walls, strict=True):
            early, late = (x.replace(tzinfo=tz, fold=k).utcoffset() for k in (0, 1))
            if early != late and x not in twice:
                once["first" if f.astimezone(tz).utcoffset() == early else "second"].append(x)
        forward = (instant.astimezone(tz).utcoffset() or timedelta(0)) > (
            (instant - timedelta(minutes=1)).astimezone(tz).utcoffset() or timedelta(0)
        )
        why = "does not exist (clocks jump forward)" if forward else "(clocks go back)"
        if dropped and moved:
            warnings.append(
                f"{day} {_times(dropped)} {zone} {why}: the scheduler fires at "
                f"{_times(moved)} instead"
            )
        elif dropped:
            warnings.append(
                f"{day} {_times(dropped)} {zone} {why}: the scheduler skips "
                f"{'that fire' if len(dropped) == 1 else 'those fires'}"
            )
        if twice:
            warnings.append(
                f"{day} {_times(twice)} {zone} happens twice (clocks go back): the scheduler "
                "fires at both"
            )
        for which, times in once.items():
            if times:
                warnings.append(
                    f"{day} {_times(times)} {zone} happens twice (clocks go back): the "
                    f"scheduler fires once, at the {which}"
                )
    return warnings
