"""Misfire policies: their schedule settings and the guard decision inside a run.

- ``skip``: overlap SKIP, catchup window 60 s (grace); a run later than the window
  records ``skipped_missed`` and stops.
- ``catchup_all``: overlap BUFFER_ALL, window 7 days; every fire runs with its own
  nominal time.
- ``catchup_latest``: overlap SKIP, window = largest gap between fires; a late run runs
  once as the latest due fire and records the fires it covers.

The catchup window only helps when the *server* could not act; when the *worker* was
down the schedule still starts the run, which waits unclaimed. Only the run can see how
late it is, so :func:`decide` makes the same policy hold in both cases. Pure; no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from activity_core.domain.cron import fire_times, largest_gap
from activity_core.domain.definition import (
    ActivityDefinition,
    CronTrigger,
    IntervalTrigger,
    MisfirePolicy,
    WatchConfig,
)
from activity_core.domain.run import RunOutcome

MIN_WINDOW_S = 10
"""Temporal silently raises any catchup window below 10 s."""
SKIP_GRACE_S = 60
CATCHUP_ALL_WINDOW_S = 7 * 86400
ON_TIME_TOLERANCE_S = 60
"""A run starting within this (plus the schedule's jitter) of its fire is on time."""
ALIGNED_START_S = 0.2
"""Queueing allowance per definition sharing a fire (``ACTCORE_ALIGNED_START_SECONDS``):
the guard and the watchdog assume the system starts at least 5 runs a second from an
aligned fire (measured on 2 cores with the embedded server: 6.5 to 7 a second on a slow
day, about 20 on a fast one; see docs/performance.md)."""
SERVER_BURST_SLACK_S = 300
"""Added to the schedule's own catchup window of a ``skip`` definition with the default
grace: at the top of the hour the server may take longer than the grace to start every
fire (its scheduler is rate limited, 30 starts a second per namespace by default, and
busy), and a fire it has not started within its window is dropped without a run. The
run's guard, not the server, decides what is too late (the grace plus the burst's
queue allowance), and records the skip; the slack covers that allowance for up to 1,500
definitions sharing a fire. An explicit ``catchup_window_seconds`` is used as given."""


@lru_cache(maxsize=1024)
def _largest_gap_s(expression: str, zone: str) -> int:
    return int(largest_gap(expression, zone).total_seconds())


def largest_gap_seconds(trigger: CronTrigger | IntervalTrigger) -> int:
    """Largest interval between consecutive fires (cron in its zone, or the interval)."""
    if isinstance(trigger, IntervalTrigger):
        return trigger.every_seconds
    return _largest_gap_s(trigger.cron_expression, trigger.timezone)


def catchup_window_seconds(trigger: CronTrigger | IntervalTrigger) -> int:
    """The definition's catchup window: explicit, or the policy's default (at least 10 s)."""
    if trigger.catchup_window_seconds is not None:
        return max(MIN_WINDOW_S, trigger.catchup_window_seconds)
    if trigger.misfire_policy == MisfirePolicy.SKIP:
        return SKIP_GRACE_S
    if trigger.misfire_policy == MisfirePolicy.CATCHUP_ALL:
        return CATCHUP_ALL_WINDOW_S
    return max(MIN_WINDOW_S, largest_gap_seconds(trigger))


def on_time_tolerance_seconds(
    trigger: CronTrigger | IntervalTrigger, watch: WatchConfig | None = None
) -> int:
    """How late a run may start and still count as on time (``ran``, not ``ran_late``).

    The definition's ``watch.late_after_seconds`` when set, else 60 s plus the jitter; the
    run's guard and the watchdog use the same figure.
    """
    if watch is not None and watch.late_after_seconds is not None:
        return watch.late_after_seconds
    return ON_TIME_TOLERANCE_S + trigger.jitter_seconds


@lru_cache(maxsize=65536)
def _cron_fires_at(expression: str, zone: str, at: datetime) -> bool:
    nxt = fire_times(expression, zone, at - timedelta(seconds=1), limit=1)
    return bool(nxt) and abs((nxt[0] - at).total_seconds()) < 1


def fires_at(trigger: CronTrigger | IntervalTrigger, at: datetime) -> bool:
    """Whether the trigger has a fire at ``at`` (to the second)."""
    at = at.astimezone(UTC).replace(microsecond=0)
    if isinstance(trigger, IntervalTrigger):
        return int(at.timestamp()) % trigger.every_seconds == 0
    return _cron_fires_at(trigger.cron_expression, trigger.timezone, at)


def aligned_at(definitions: Sequence[ActivityDefinition], at: datetime) -> int:
    """How many enabled scheduled definitions fire at ``at`` (the burst a run is part of)."""
    return sum(
        1
        for d in definitions
        if d.enabled
        and isinstance(d.trigger_config, CronTrigger | IntervalTrigger)
        and fires_at(d.trigger_config, at)
    )


def queue_allowance_seconds(aligned: int, per_start_s: float = ALIGNED_START_S) -> float:
    """Extra lateness a run may have when ``aligned`` definitions share its fire.

    At the top of the hour hundreds of runs are started and picked up one after another;
    the last is late by the queue, not by an outage. The allowance grows with the burst
    (``aligned - 1`` times ``per_start_s``), so a lone definition keeps its exact
    window and a worker outage longer than the queue is still caught.
    """
    return max(0, aligned - 1) * per_start_s


def burst_allowances(
    fires: dict[str, list[datetime]], per_start_s: float = ALIGNED_START_S
) -> dict[str, float]:
    """Each definition's queue allowance for the busiest fire it shares with others.

    ``fires`` maps a definition to its fires in a window (the watchdog's view of every
    definition); the count at a fire is the same burst :func:`aligned_at` gives the guard.
    """

    def second(at: datetime) -> int:
        return int(at.timestamp())

    counts = Counter(second(f) for fs in fires.values() for f in set(fs))
    return {
        name: queue_allowance_seconds(max((counts[second(f)] for f in fs), default=1), per_start_s)
        for name, fs in fires.items()
    }


@dataclass(frozen=True)
class GuardDecision:
    """What a scheduled run does about its lateness."""

    run: bool
    """Run the handler (False: record the skip and stop)."""
    outcome: RunOutcome
    """``ran``, ``ran_late``, ``ran_as_latest`` or ``skipped_missed``."""
    effective_fire: datetime
    """The fire the report is for (the latest due fire for ``catchup_latest``)."""
    lateness_s: float
    """How late the run started relative to its own nominal fire."""
    covered: list[datetime] = field(default_factory=list)
    """Nominal fires this run stands for (more than one only for ``catchup_latest``)."""

    def describe(self) -> str:
        """One line for logs and the Web UI."""
        late = f"{self.lateness_s:.0f} s late"
        if self.outcome == RunOutcome.SUPERSEDED:
            return f"superseded: the later fire {self.effective_fire.isoformat()} has its own run"
        if self.outcome == RunOutcome.SKIPPED_MISSED:
            return f"skipped: fire {self.effective_fire.isoformat()} started {late}"
        if self.outcome == RunOutcome.SKIPPED_TOO_LATE:
            return (
                f"skipped_too_late: fire {self.effective_fire.isoformat()} started {late}, "
                "past max_lateness_seconds"
            )
        if self.outcome == RunOutcome.RAN_AS_LATEST:
            return (
                f"running as the latest due fire {self.effective_fire.isoformat()}, "
                f"covering {len(self.covered)} fires ({late})"
            )
        return f"{self.outcome.value}: fire {self.effective_fire.isoformat()} ({late})"


def decide(
    policy: MisfirePolicy,
    *,
    nominal: datetime,
    now: datetime,
    window_s: float,
    tolerance_s: float,
    later_fires: list[datetime] | None = None,
    fires_with_own_run: list[datetime] | None = None,
    unstarted_before: list[datetime] | None = None,
    max_lateness_s: float | None = None,
) -> GuardDecision:
    """Decide what a scheduled run does.

    Args:
        policy: The definition's misfire policy.
        nominal: The run's own nominal fire time.
        now: When the run started executing (workflow time).
        window_s: The definition's catchup window in seconds.
        tolerance_s: Lateness still counted as on time.
        later_fires: Fires after ``nominal`` up to ``now`` (server-computed); only
            ``catchup_latest`` uses them.
        fires_with_own_run: Later fires the schedule already started a run for; a
            ``catchup_latest`` run then leaves the report to that run (``superseded``).
        unstarted_before: Earlier fires the server never started (it was down past
            their catchup window); a ``catchup_latest`` run stands for them too.
        max_lateness_s: ``catchup_all`` / ``catchup_latest``: a fire later than this
            (for ``catchup_latest``, the latest due fire) is ``skipped_too_late``.

    Returns:
        The decision.
    """
    lateness = (now - nominal).total_seconds()
    if policy == MisfirePolicy.CATCHUP_LATEST:
        due = sorted(f for f in (later_fires or []) if nominal < f <= now)
        own = sorted(f for f in (fires_with_own_run or []) if nominal < f)
        before = sorted(f for f in (unstarted_before or []) if f < nominal)
        if own:
            return GuardDecision(False, RunOutcome.SUPERSEDED, own[-1], lateness, [nominal])
        if due or before:
            # The server-down case: the scheduler started only the latest fire within
            # the window; the fires it dropped before it are this run's too.
            latest = due[-1] if due else nominal
            late_latest = (now - latest).total_seconds()
            covered = [*before, nominal, *due]
            if late_latest > window_s:
                return GuardDecision(False, RunOutcome.SKIPPED_MISSED, latest, lateness, covered)
            if max_lateness_s is not None and late_latest > max_lateness_s:
                return GuardDecision(False, RunOutcome.SKIPPED_TOO_LATE, latest, lateness, covered)
            return GuardDecision(True, RunOutcome.RAN_AS_LATEST, latest, lateness, covered)
    if lateness > window_s:
        return GuardDecision(False, RunOutcome.SKIPPED_MISSED, nominal, lateness, [nominal])
    if policy != MisfirePolicy.SKIP and max_lateness_s is not None and lateness > max_lateness_s:
        return GuardDecision(False, RunOutcome.SKIPPED_TOO_LATE, nominal, lateness, [nominal])
    outcome = RunOutcome.RAN if lateness <= tolerance_s else RunOutcome.RAN_LATE
    return GuardDecision(True, outcome, nominal, lateness, [nominal])


def backfill_decision(
    nominal: datetime, now: datetime, covers: Sequence[datetime] = ()
) -> GuardDecision:
    """A backfill run's decision: it runs for ``nominal``, however late, and stands for
    ``covers`` too (earlier fires of a ``catchup_latest`` plan)."""
    covered = sorted({*covers, nominal})
    outcome = RunOutcome.RAN_AS_LATEST if len(covered) > 1 else RunOutcome.RAN
    return GuardDecision(True, outcome, nominal, (now - nominal).total_seconds(), covered)


def window(trigger: CronTrigger | IntervalTrigger) -> timedelta:
    """The schedule's catchup window (how late the server may still start a fire): the
    guard's window, plus :data:`SERVER_BURST_SLACK_S` for ``skip`` with the default grace."""
    seconds = catchup_window_seconds(trigger)
    if trigger.catchup_window_seconds is None and trigger.misfire_policy == MisfirePolicy.SKIP:
        seconds += SERVER_BURST_SLACK_S
    return timedelta(seconds=seconds)


def fires_between(
    trig: CronTrigger | IntervalTrigger, start: datetime, end: datetime
) -> list[datetime]:
    """Fire times in ``(start, end]`` (UTC), by the Temporal scheduler's rules (cron in
    the trigger's zone; intervals aligned to the epoch, as the server aligns them)."""
    if isinstance(trig, IntervalTrigger):
        every = trig.every_seconds
        first = (int(start.timestamp()) // every + 1) * every
        return [
            datetime.fromtimestamp(t, UTC) for t in range(first, int(end.timestamp()) + 1, every)
        ]
    return [
        f.astimezone(UTC)
        for f in fire_times(trig.cron_expression, trig.timezone, start, limit=5000)
        if f <= end
    ]
