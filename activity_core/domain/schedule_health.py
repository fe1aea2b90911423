"""What the schedule itself says about a definition's fires: its health (missing, paused,
drifted from the definition) and, for a fire without a run, the cause the watchdog gives
(paused, deleted, stalled scheduler, dropped by a full buffer, missed catchup window).
Pure; read by :mod:`activity_core.domain.classify`."""

from __future__ import annotations

from datetime import datetime

from activity_core.domain.constants import SCHEDULE_ID_PREFIX
from activity_core.domain.watchdog import SETTLE_S, DefinitionSeen


def schedule_health(seen: DefinitionSeen) -> list[str]:
    """Schedule problems: missing, paused while enabled (or not while disabled), drift."""
    s = seen.schedule
    if not s.exists:
        return ["schedule missing: run `actcore sync`"]
    out: list[str] = []
    if s.paused and seen.enabled:
        out.append("schedule paused but the definition is enabled")
    if not s.paused and not seen.enabled:
        out.append("schedule running but the definition is disabled")
    if s.overlap is not None and s.overlap != seen.overlap:
        out.append(f"drift: overlap policy {s.overlap}, definition wants {seen.overlap}")
    if s.catchup_window_s is not None and abs(s.catchup_window_s - seen.catchup_window_s) > 0.5:
        out.append(
            f"drift: catchup window {s.catchup_window_s:.0f} s, "
            f"definition wants {seen.catchup_window_s:.0f} s"
        )
    if not s.up_to_date:
        # Pausing by hand also replaces the note: shown, but not alerted as drift.
        out.append("unsynced: the schedule's note lacks this definition's sync fingerprint")
    return out


def _counted(now: int, before: int | None, what: str) -> str:
    """``; the server counts N <what> since the previous pass`` ("" when none)."""
    n = now - (before or 0)
    if n <= 0:
        return ""
    when = "in the schedule's lifetime" if before is None else "since the previous pass"
    return f"; the server counts {n} {what} {when}"


def missing_cause(seen: DefinitionSeen, fire: datetime, now: datetime) -> str:
    """Why a fire has no run, as far as the schedule and the server's counts tell."""
    s = seen.schedule
    if not s.exists:
        return "schedule deleted (run `actcore sync`)"
    if s.paused:
        return "schedule paused"
    stalled_s = (now - s.next_fire).total_seconds() if s.next_fire is not None else 0.0
    if stalled_s > seen.tolerance_s + SETTLE_S:
        assert s.next_fire is not None
        return (
            f"scheduler stalled: the schedule's next action time {s.next_fire:%H:%M:%S} UTC "
            f"passed {stalled_s:.0f} s ago without an action while the server answered; "
            'restart its scheduler: `temporal schedule toggle --address "$TEMPORAL_ADDRESS" '
            f"--schedule-id {SCHEDULE_ID_PREFIX}{seen.activity_id} --pause --reason stalled`, "
            "then the same with `--unpause`, and `actcore trigger "
            f"{seen.name}` for the report now"
        )
    for lo, until in seen.paused_by_hand:
        if lo <= fire < until:
            return (
                f"schedule paused by hand until {until:%Y-%m-%d %H:%M:%S} UTC, when "
                "`actcore sync` unpaused it (the definition is enabled)"
            )
    dropped = _counted(s.buffer_dropped, s.buffer_dropped_before, "starts dropped")
    if dropped:
        return (
            "dropped by the server: its buffer of pending starts (at most 1,000) was full"
            f"{dropped}; replay them with `temporal schedule backfill` (see "
            "docs/misfire-policies.md)"
        )
    missed = _counted(
        s.missed_catchup_window, s.missed_catchup_before, "fires missed past the catchup window"
    )
    return (
        "not started by the server (down or unable to act within the catchup window of "
        f"{seen.catchup_window_s:.0f} s){missed}"
    )
