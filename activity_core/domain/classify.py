"""The watchdog's verdict on each expected fire of a definition: what the server and the
runs say happened (ok, late, covered, skipped, unclaimed, too long, failed, missing, due),
how severe it is, and the schedule's health. Pure; the folding of verdicts into alerts is
:mod:`activity_core.domain.judge`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from activity_core.domain.backfill import is_backfill_run
from activity_core.domain.run import RunOutcome
from activity_core.domain.schedule_health import missing_cause, schedule_health
from activity_core.domain.watchdog import (
    PAGE_KINDS,
    QUIET,
    SETTLE_S,
    DefinitionSeen,
    DefinitionStatus,
    FireKind,
    FireVerdict,
    RunSeen,
    Severity,
)

AWAITING_SERVER = "not started yet; the server may still act on it (just back from an outage?)"
"""Detail of a fire left unjudged for the grace (the next pass keeps the grace's start)."""
OVERLAP_SLACK_S = 2.0
"""The scheduler learns of a run's end about a second late; fires that close count as overlap."""


def severity_of(kind: FireKind, lateness_s: float | None, page_late_s: float) -> Severity | None:
    """Page for unintended misses and failures; note for policy skips and short lateness."""
    if kind in QUIET:
        return None
    if kind in PAGE_KINDS:
        return Severity.PAGE
    if kind == FireKind.LATE and (lateness_s or 0.0) > page_late_s:
        return Severity.PAGE
    return Severity.NOTE


def _closed_ok(run: RunSeen) -> bool:
    return run.status == "completed"


def _match_run(fire: datetime, runs: list[RunSeen]) -> RunSeen | None:
    """The fire's own run; the latest started when there are several (a backfill run
    after the one that failed)."""
    own = [r for r in runs if r.nominal is not None and abs((r.nominal - fire).total_seconds()) < 1]
    return max(own, key=lambda r: r.started_at) if own else None


def _runs_as_latest(run: RunSeen) -> bool:
    """The run stands for later fires than its own: it completed as ``ran_as_latest``, or
    it is still open and its guard already dated it for a later fire (``ScheduledFor`` is
    set when the guard decides; the outcome only when the run ends)."""
    if run.outcome == RunOutcome.RAN_AS_LATEST.value:
        return True
    return (
        run.status == "running"
        and run.nominal is not None
        and run.scheduled_for is not None
        and (run.scheduled_for - run.nominal).total_seconds() >= 1.0
    )


def _undecided(run: RunSeen) -> bool:
    """An open run whose misfire guard has not decided yet (no ``ScheduledFor``): it may
    still run as the latest due fire and stand for the fires before its start."""
    return run.status == "running" and (
        run.scheduled_for is None or run.unclaimed_since is not None
    )


def _covering_run(fire: datetime, runs: list[RunSeen]) -> RunSeen | None:
    """A run as the latest due fire whose covered fires include ``fire``."""
    for run in runs:
        if not _runs_as_latest(run):
            continue
        if any(abs((c - fire).total_seconds()) < 1.0 for c in run.covered_fires):
            return run
        if (
            not run.covered_fires
            and run.nominal is not None
            and run.scheduled_for is not None
            and run.nominal <= fire <= run.scheduled_for
        ):
            return run
    return None


def _blocking_run(fire: datetime, runs: list[RunSeen], now: datetime) -> RunSeen | None:
    """A run of an earlier fire that was still open when ``fire`` came (overlap). Backfill
    runs are not the schedule's: the server never skips a fire behind one."""
    for run in runs:
        if run.nominal is None or run.nominal >= fire or is_backfill_run(run.workflow_id):
            continue
        end = run.closed_at or now
        if run.started_at <= fire and end >= fire - timedelta(seconds=OVERLAP_SLACK_S):
            return run
    return None


def _catchup_overlap(fire: datetime, runs: list[RunSeen], window_s: float) -> RunSeen | None:
    """The catch-up run of an earlier fire that the server started *after* ``fire``, while
    ``fire`` was still within its catchup window: back from an outage, the server started
    the earlier fire and skipped this one as an overlap (SKIP) behind it."""
    for run in runs:
        if run.nominal is None or run.nominal >= fire or is_backfill_run(run.workflow_id):
            continue
        if fire < run.started_at <= fire + timedelta(seconds=window_s + OVERLAP_SLACK_S):
            return run
    return None


def _next_run(fire: datetime, runs: list[RunSeen]) -> RunSeen | None:
    """The run of the first fire after ``fire`` that has one."""
    return min(
        (r for r in runs if r.nominal is not None and r.nominal > fire), key=_nominal, default=None
    )


def _server_may_act(
    seen: DefinitionSeen, fire: datetime, runs: list[RunSeen], now: datetime
) -> str:
    """Why a fire without a run is not judged yet ("" when it can be judged now).

    Back from an outage, the server's scheduler takes a few seconds to act, then starts
    (or buffers) what its policy says; a ``catchup_latest`` run covers the fires it stands
    for only once it completes. So a fire is not missing while a run of a later fire is
    still open, nor, before any later fire has a run, within the grace after the watchdog
    first saw it unstarted.
    """
    s = seen.schedule
    if not s.exists or s.paused:
        return ""  # the cause is known: judge now
    nxt = _next_run(fire, runs)
    if seen.policy == "catchup_latest" and nxt is not None and nxt.status == "running":
        return "the next fire's run is still open (as the latest due fire it may cover this one)"
    if nxt is None and seen.unrun_grace_until is not None and now < seen.unrun_grace_until:
        return AWAITING_SERVER
    return ""


def _run_verdict(seen: DefinitionSeen, fire: datetime, run: RunSeen, now: datetime) -> FireVerdict:
    rid = run.workflow_id
    if run.status == "running":
        if run.unclaimed_since is not None:
            waited = (now - run.unclaimed_since).total_seconds()
            if waited > seen.tolerance_s:
                return FireVerdict(
                    fire=fire,
                    kind=FireKind.PENDING_UNCLAIMED,
                    run_id=rid,
                    detail=f"no worker has picked the run up for {waited:.0f} s",
                )
        age = (now - run.started_at).total_seconds()
        if age > seen.max_runtime_s:
            return FireVerdict(
                fire=fire,
                kind=FireKind.RUNNING_TOO_LONG,
                run_id=rid,
                detail=f"open for {age:.0f} s (max_runtime_seconds {seen.max_runtime_s:.0f})",
            )
        return FireVerdict(fire=fire, kind=FireKind.RUNNING, run_id=rid, detail="in progress")
    if not _closed_ok(run):
        return FireVerdict(fire=fire, kind=FireKind.FAILED, run_id=rid, detail=f"run {run.status}")
    outcome = run.outcome or ""
    if outcome == RunOutcome.COULD_NOT_RUN.value:
        return FireVerdict(
            fire=fire, kind=FireKind.FAILED, run_id=rid, detail="could not run (see its note)"
        )
    if outcome == RunOutcome.SKIPPED_MISSED.value:
        return FireVerdict(
            fire=fire,
            kind=FireKind.SKIPPED_BY_POLICY,
            run_id=rid,
            lateness_s=run.lateness_s,
            detail=f"started beyond the catchup window; skipped by policy {seen.policy}",
        )
    if outcome == RunOutcome.SKIPPED_TOO_LATE.value:
        return _too_late(fire, run)
    if outcome == RunOutcome.SUPERSEDED.value:
        return FireVerdict(
            fire=fire, kind=FireKind.COVERED, run_id=rid, detail="a later fire has its own run"
        )
    if outcome == RunOutcome.RAN_AS_LATEST.value:
        covering = run.scheduled_for.isoformat() if run.scheduled_for else "a later fire"
        return FireVerdict(
            fire=fire, kind=FireKind.COVERED, run_id=rid, detail=f"ran as the latest ({covering})"
        )
    if outcome == RunOutcome.RAN_LATE.value:
        late = run.lateness_s
        return FireVerdict(
            fire=fire,
            kind=FireKind.LATE,
            run_id=rid,
            lateness_s=late,
            detail=f"started {late:.0f} s late" if late is not None else "started late",
        )
    if seen.min_runtime_s is not None and run.closed_at is not None:
        took = (run.closed_at - run.started_at).total_seconds()
        if took < seen.min_runtime_s:
            return FireVerdict(
                fire=fire,
                kind=FireKind.TOO_FAST,
                run_id=rid,
                lateness_s=run.lateness_s,
                detail=f"completed in {took:.1f} s (min_runtime_seconds "
                f"{seen.min_runtime_s:.0f}): it probably did nothing; read its note",
            )
    return FireVerdict(fire=fire, kind=FireKind.OK, run_id=rid, lateness_s=run.lateness_s)


def _too_late(fire: datetime, run: RunSeen) -> FireVerdict:
    late = f" ({run.lateness_s:.0f} s late)" if run.lateness_s is not None else ""
    return FireVerdict(
        fire=fire,
        kind=FireKind.SKIPPED_TOO_LATE,
        run_id=run.workflow_id,
        lateness_s=run.lateness_s,
        detail=f"not run: later than max_lateness_seconds{late}",
    )


def _too_late_cover(fire: datetime, runs: list[RunSeen]) -> RunSeen | None:
    """A ``skipped_too_late`` run whose covered fires include ``fire``."""
    for run in runs:
        if run.outcome == RunOutcome.SKIPPED_TOO_LATE.value and any(
            abs((c - fire).total_seconds()) < 1.0 for c in run.covered_fires
        ):
            return run
    return None


def classify(seen: DefinitionSeen, now: datetime) -> DefinitionStatus:
    """One verdict per expected fire of a definition, plus its schedule health."""
    scheduled = sorted((r for r in seen.runs if r.nominal is not None), key=_nominal)
    verdicts: list[FireVerdict] = []
    for fire in sorted(seen.expected_fires):
        if fire > now:
            continue
        if seen.blind is not None:
            verdicts.append(
                FireVerdict(fire=fire, kind=FireKind.UNKNOWN, detail=f"not seen: {seen.blind}")
            )
            continue
        run = _match_run(fire, scheduled)
        if run is not None:
            # Deliveries are judged per sink (activity_core.domain.sink_alerts), not per
            # fire: one sink outage is one alert, whatever started the runs.
            verdict = _run_verdict(seen, fire, run, now)
        elif (cover := _covering_run(fire, scheduled)) is not None:
            verdict = FireVerdict(
                fire=fire,
                kind=FireKind.COVERED,
                run_id=cover.workflow_id,
                detail="covered by a catchup_latest run",
            )
        elif (late := _too_late_cover(fire, scheduled)) is not None:
            verdict = _too_late(fire, late)
        elif (now - fire).total_seconds() <= seen.tolerance_s + SETTLE_S:
            verdict = FireVerdict(fire=fire, kind=FireKind.DUE, detail="just due")
        elif (block := _blocking_run(fire, scheduled, now)) is not None:
            verdict = _overlap_verdict(seen, fire, block, now, scheduled)
        elif seen.overlap == "SKIP" and (
            catchup := _catchup_overlap(fire, scheduled, seen.catchup_window_s)
        ):
            verdict = _catchup_verdict(seen, fire, catchup, scheduled)
        elif why := _server_may_act(seen, fire, scheduled, now):
            verdict = FireVerdict(fire=fire, kind=FireKind.DUE, detail=why)
        else:
            verdict = FireVerdict(
                fire=fire, kind=FireKind.MISSING, detail=missing_cause(seen, fire, now)
            )
        verdict.severity = severity_of(verdict.kind, verdict.lateness_s, seen.page_late_s)
        verdicts.append(verdict)
    return DefinitionStatus(
        activity_id=seen.activity_id,
        name=seen.name,
        policy=seen.policy,
        enabled=seen.enabled,
        zone=seen.zone,
        verdicts=verdicts,
        health=schedule_health(seen)
        + [f"run {r.workflow_id}: {r.failing}" for r in seen.runs if r.failing],
        next_fire=seen.schedule.next_fire,
        deliveries_waiting=sum(1 for d in seen.deliveries if d.state in ("pending", "waiting")),
        deliveries_dead=sum(1 for d in seen.deliveries if d.state == "dead"),
        recover_after=seen.recover_after,
        alert_after=seen.alert_after,
        blind=seen.blind,
        unclaimed_queues=_unclaimed_queues(seen.runs),
    )


def _unclaimed_queues(runs: list[RunSeen]) -> dict[str, datetime]:
    """Task queue -> the oldest time a run has waited on it for a worker."""
    out: dict[str, datetime] = {}
    for r in runs:
        if r.unclaimed_since is not None and r.task_queue:
            out[r.task_queue] = min(out.get(r.task_queue, r.unclaimed_since), r.unclaimed_since)
    return out


def _nominal(run: RunSeen) -> datetime:
    assert run.nominal is not None
    return run.nominal


def _overlap_verdict(
    seen: DefinitionSeen, fire: datetime, block: RunSeen, now: datetime, runs: list[RunSeen]
) -> FireVerdict:
    rid = block.workflow_id
    if block.status == "running" and block.unclaimed_since is not None:
        return FireVerdict(
            fire=fire,
            kind=FireKind.PENDING_UNCLAIMED,
            run_id=rid,
            detail="not started: the run of an earlier fire still waits for a worker",
        )
    if seen.overlap == "BUFFER_ALL" and block.status == "running":
        return FireVerdict(fire=fire, kind=FireKind.DUE, run_id=rid, detail="buffered")
    if seen.overlap == "BUFFER_ALL" and seen.schedule.buffered:
        return FireVerdict(fire=fire, kind=FireKind.DUE, detail="buffered")
    if seen.policy == "catchup_latest":
        return _latest_behind(fire, block, "the run of an earlier fire was still open", runs)
    return FireVerdict(
        fire=fire,
        kind=FireKind.SKIPPED_BY_POLICY,
        run_id=rid,
        detail="not started: the run of an earlier fire was still open (overlap policy SKIP)",
    )


def _catchup_verdict(
    seen: DefinitionSeen, fire: datetime, catchup: RunSeen, runs: list[RunSeen]
) -> FireVerdict:
    """A fire the server skipped (SKIP) behind the catch-up run of an earlier fire."""
    at = f"{_nominal(catchup):%H:%M:%S} UTC"
    if seen.policy == "catchup_latest":
        return _latest_behind(
            fire,
            catchup,
            f"back from an outage, the server was running the catch-up of {at}",
            runs,
        )
    return FireVerdict(
        fire=fire,
        kind=FireKind.SKIPPED_BY_POLICY,
        run_id=catchup.workflow_id,
        detail="not started: back from an outage, the server was running the catch-up "
        f"of the fire at {at} (overlap policy SKIP)",
    )


def _latest_behind(fire: datetime, block: RunSeen, why: str, runs: list[RunSeen]) -> FireVerdict:
    """``catchup_latest``: a fire the server skipped behind ``block`` (no run covers it,
    see :func:`_covering_run`). The policy promises the latest due fire runs: ``block``
    may still stand for it (its guard has not decided), or the next fire's run will (it
    stands for the fires no run took since ``block``, see
    ``ScheduleActivities._unstarted_before``); until one of them has, or when ``block``
    skipped it with itself (too late for the window), it is not judged ``missing``.
    It is missing (a page) while nothing stands for it: a report a whole interval late."""
    rid = block.workflow_id
    at = f"{_nominal(block):%H:%M:%S} UTC"
    if _undecided(block):
        return FireVerdict(
            fire=fire,
            kind=FireKind.DUE,
            run_id=rid,
            detail=f"not started: {why}; that run has not decided yet and may stand for it",
        )
    nxt = _next_run(fire, runs)
    if nxt is not None and nxt.status == "running" and not is_backfill_run(nxt.workflow_id):
        return FireVerdict(
            fire=fire,
            kind=FireKind.DUE,
            run_id=nxt.workflow_id,
            detail=f"not started: {why}; the next fire's run is still open and will stand for it",
        )
    if block.outcome == RunOutcome.SKIPPED_TOO_LATE.value:
        return _too_late(fire, block)
    if block.outcome == RunOutcome.SKIPPED_MISSED.value:
        return FireVerdict(
            fire=fire,
            kind=FireKind.SKIPPED_BY_POLICY,
            run_id=rid,
            detail=f"not started: {why}; that run started beyond the catchup window and "
            "skipped itself and the fires after it (policy catchup_latest)",
        )
    state = "still open" if block.status == "running" else f"closed {block.status}"
    return FireVerdict(
        fire=fire,
        kind=FireKind.MISSING,
        run_id=rid,
        detail=f"skipped by the server as an overlap: {why} (run of the fire at {at}, "
        f"{state}); that run started before this fire and cannot stand for it, so nothing "
        "runs for it until the next regular fire, which stands for it (catchup_latest)",
    )
