"""A watchdog pass's judgement: observe (``watchdog_observe``), classify and fold into the
previous pass's state, with the journal, the sinks and the router. Shared by the
``watchdog_observe`` activity and ``actcore status``; no side effects."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from activities.event_lag import router_health
from activities.sink_health import open_deliveries
from activities.watchdog_observe import MAX_LOOKBACK, Observer, watched
from activity_core.alerts import load_alert_sinks
from activity_core.catalog import Catalog
from activity_core.domain import (
    ActivityDefinition,
    DefinitionStatus,
    DefinitionSummary,
    EventTrigger,
    FireKind,
    WatchdogPassResult,
    WatchdogPlan,
    WatchdogState,
    advance,
    classify,
    misfire,
    schedule_id,
)
from activity_core.domain import search_attributes as sa
from activity_core.domain.classify import AWAITING_SERVER
from activity_core.domain.constants import (
    ACTIVITY_RUN_WORKFLOW,
    POLLER_SEEN_WITHIN,
    WATCHDOG_WORKFLOW,
)
from activity_core.domain.deadlines import event_status, expects_events
from activity_core.domain.events import router_problem
from activity_core.domain.ledger import ScheduleChange
from activity_core.domain.mute import ALL, muted_targets
from activity_core.domain.pause import pause_orders
from activity_core.domain.sink_alerts import per_definition, sink_problems
from activity_core.domain.watchdog import (
    UNJUDGED,
    UNRUN_GRACE_S,
    Alert,
    FireVerdict,
    Severity,
    alert_id,
)
from activity_core.settings import Settings
from activity_core.store import Ledger, Store
from activity_core.store.errors import STORE_ERRORS
from activity_core.store.mutes import Mutes

log = logging.getLogger(__name__)


GAP_PASSES = 3
"""A pass this many intervals after the previous one says the watchdog was away."""


def _gap_notice(last: datetime | None, now: datetime, settings: Settings) -> Alert | None:
    """A note when the previous pass is more than a few intervals old: the fires in
    between are judged now, from history, and their alerts come late."""
    interval = settings.watchdog_interval_seconds
    if last is None or interval <= 0 or (now - last).total_seconds() <= GAP_PASSES * interval:
        return None
    away = (now - last).total_seconds()
    return Alert(
        alert_id=alert_id("watchdog", "watchdog_gap", last.isoformat()),
        activity_id="watchdog",
        activity_name="watchdog",
        kind="watchdog_gap",
        severity=Severity.NOTE,
        opened_at=now,
        detail=f"no pass from {last:%Y-%m-%d %H:%M:%S} to {now:%H:%M:%S} UTC ({away:.0f} s, "
        f"interval {interval} s): the fires in between were judged now, from history; "
        "alerts about them came late",
    )


def _new_verdicts(
    statuses: Sequence[DefinitionStatus], through: dict[str, datetime]
) -> tuple[dict[str, dict[str, int]], dict[str, datetime]]:
    """Verdicts of fires judged for the first time (each fire counted once: only the
    judged fires before the first unjudged one), and how far each definition is counted."""
    counts: dict[str, dict[str, int]] = {}
    moved: dict[str, datetime] = {}
    for st in statuses:
        last = through.get(st.activity_id)
        for v in sorted(st.verdicts, key=lambda v: v.fire):
            if v.kind in UNJUDGED:
                break
            if last is not None and v.fire <= last:
                continue
            mine = counts.setdefault(st.name, {})
            mine[v.kind.value] = mine.get(v.kind.value, 0) + 1
            last = v.fire
        if last is not None:
            moved[st.activity_id] = last
    return counts, moved


async def _queues_without_pollers(
    client: Client, statuses: Sequence[DefinitionStatus], now: datetime
) -> dict[str, list[str]]:
    """Task queue -> the definitions whose runs wait on it, for each queue of an
    unclaimed run that no live worker polls. A poller the server last saw before the
    oldest waiting task was scheduled is gone: a live, idle one would have taken it."""
    waiting: dict[str, list[str]] = {}
    since: dict[str, datetime] = {}
    for st in statuses:
        if any(v.kind == FireKind.PENDING_UNCLAIMED for v in st.verdicts):
            for queue, at in st.unclaimed_queues.items():
                waiting.setdefault(queue, []).append(st.activity_id)
                since[queue] = min(since.get(queue, at), at)
    out: dict[str, list[str]] = {}
    for queue, affected in waiting.items():
        try:
            found = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
        except RPCError as err:  # not known: the definitions' own alerts stand
            log.warning("task queue not described", extra={"queue": queue, "error": err.message})
            continue
        recent = [
            p
            for p in found.pollers
            if p.last_access_time.ToDatetime(UTC) > since[queue]
            and now - p.last_access_time.ToDatetime(UTC) <= POLLER_SEEN_WITHIN
        ]
        if not recent:
            out[queue] = sorted(set(affected))
    return out


async def _event_statuses(
    client: Client,
    ledger: Ledger | None,
    definitions: Sequence[ActivityDefinition],
    watch_since: dict[str, datetime],
    now: datetime,
) -> list[DefinitionStatus]:
    """The deadline verdict of each event definition that expects events: its latest
    run from visibility (one call each), else from the ledger (past retention)."""
    if not definitions:
        return []
    recorded = {}
    if ledger is not None:
        try:
            recorded = await ledger.latest_runs([str(d.id) for d in definitions])
        except STORE_ERRORS as exc:
            log.warning("ledger unavailable to the watchdog", extra={"error": type(exc).__name__})
    out: list[DefinitionStatus] = []
    for d in definitions:
        query = f"WorkflowType = '{ACTIVITY_RUN_WORKFLOW}' AND ActivityId = '{d.id}'"
        try:
            latest = [ex.start_time async for ex in client.list_workflows(query, limit=1)]
        except (RPCError, TimeoutError) as err:
            why = str(err)[:160] or type(err).__name__
            log.warning("definition not seen", extra={"definition": d.name, "why": why})
            unseen = event_status(d, None, now, now)  # no verdict: the next pass judges it
            out.append(unseen.model_copy(update={"verdicts": [], "blind": why}))
            continue
        row = recorded.get(str(d.id))
        known = [t for t in (*latest, row.started_at if row else None) if t is not None]
        out.append(event_status(d, max(known, default=None), watch_since[str(d.id)], now))
    return out


async def _muted(
    store: Store | None, definitions: Sequence[ActivityDefinition], now: datetime
) -> dict[str, str]:
    """Mute key (definition id, or ``*``) -> why its pages are held back now: the stored
    mutes and the definitions' maintenance windows."""
    mutes = []
    if store is not None:
        try:
            mutes = await Mutes(store).current(now)
        except STORE_ERRORS as exc:
            log.warning("mutes unavailable", extra={"error": type(exc).__name__})
    windows = {d.name: d.watch.maintenance for d in definitions if d.watch.maintenance}
    by_name = muted_targets(mutes, windows, now)
    ids = {d.name: str(d.id) for d in definitions}
    return {ids.get(target, target): why for target, why in by_name.items()}


def blind_problem(
    statuses: Sequence[DefinitionStatus],
    since: dict[str, datetime],
    now: datetime,
    settings: Settings,
) -> str | None:
    """ "watchdog blind" text when some definitions have been unseen past the setting."""
    limit = settings.watchdog_blind_after_seconds
    long_blind = [
        st
        for st in statuses
        if st.blind is not None and (now - since[st.activity_id]).total_seconds() >= limit
    ]
    if not long_blind:
        return None
    oldest = min(since[st.activity_id] for st in long_blind)
    names = ", ".join(st.name for st in long_blind[:10])
    more = f" and {len(long_blind) - 10} more" if len(long_blind) > 10 else ""
    return (
        f"{len(long_blind)} definition(s) not seen for {(now - oldest).total_seconds():.0f} s "
        f"({names}{more}): {long_blind[0].blind}; their fires are unknown, not judged"
    )


async def last_pass(client: Client, exclude: str | None = None) -> WatchdogPassResult | None:
    """The result of the latest completed watchdog pass (None when there is none)."""
    now = datetime.now(UTC)
    for since in (timedelta(hours=1), MAX_LOOKBACK):
        query = (
            f"WorkflowType = '{WATCHDOG_WORKFLOW}' AND ExecutionStatus = 'Completed' "
            f"AND CloseTime >= '{sa.visibility_time(now - since)}'"
        )
        found = [
            ex
            async for ex in client.list_workflows(query, limit=20)
            if ex.id != exclude and ex.close_time is not None
        ]
        if not found:
            continue
        latest = max(found, key=lambda ex: ex.close_time or now)
        raw = await client.get_workflow_handle(latest.id, run_id=latest.run_id).result()
        return WatchdogPassResult.model_validate(raw)
    return None


async def previous_state(client: Client, exclude: str | None = None) -> WatchdogState:
    """The state the last completed pass handed on (empty when there is none)."""
    result = await last_pass(client, exclude)
    return result.state if result is not None else WatchdogState()


async def _journals(
    store: Store | None, definitions: Sequence[ActivityDefinition]
) -> dict[str, list[ScheduleChange]] | None:
    """The sync journal of each definition's schedule (None: no store, or it is down)."""
    if store is None:
        return None
    try:
        return await Ledger(store).journals([schedule_id(d) for d in definitions])
    except STORE_ERRORS as exc:
        log.warning("journal unavailable", extra={"error": type(exc).__name__})
        return None


async def fire_verdicts(
    client: Client,
    store: Store | None,
    definition: ActivityDefinition,
    since: datetime,
    *,
    strict: bool = False,
) -> list[FireVerdict]:
    """The watchdog's verdict on each fire of ``definition`` since ``since`` (up to now),
    judged as a pass would (a backfill plans from them; the board shows them).
    ``strict``: a ledger that cannot be read raises instead of being left out."""
    journals = await _journals(store, [definition])
    ledger = Ledger(store) if store is not None else None
    now = datetime.now(UTC)
    observer = Observer(client, journals, ledger, strict=strict)
    seen = await observer.observe_one(definition, now, since)
    return [v for v in classify(seen, now).verdicts if v.fire >= since]


async def judge(
    client: Client,
    settings: Settings,
    *,
    names: list[str],
    lookback_seconds: float | None,
    state: WatchdogState | None = None,
    exclude_pass: str | None = None,
    catalog: Catalog | None = None,
) -> WatchdogPlan:
    """Observe, classify and fold into the previous pass's state (no side effects).

    The definitions judged are those in force (:mod:`activity_core.catalog`); a broken
    file read in degraded mode is logged and the others are still judged.

    Args:
        client: Temporal client.
        settings: Definitions directory, look-back, alerts file.
        names: Only these definitions (all when empty).
        lookback_seconds: Shortest look-back (default from settings).
        state: The state to fold into (default: the last completed pass's).
        exclude_pass: A pass to ignore when looking for the last one (the caller itself).
        catalog: The definitions in force (default: the directory's, no store).

    Raises:
        DefinitionNotFound: A name in ``names`` is not in force (the known ones listed).
        ConfigError: The alerts file is invalid.
    """
    catalog = catalog or Catalog(settings, None)
    view = await catalog.view()
    for left_out in view.problems:
        log.warning("definition left out of the pass", extra={"problem": left_out})
    alerts = await asyncio.to_thread(load_alert_sinks, settings.alerts_file)
    everything = view.definitions
    for wanted in names:
        view.find(wanted)
    definitions = watched(everything, names)
    if state is None:
        state = await previous_state(client, exclude_pass)
    now = datetime.now(UTC)
    lookback = lookback_seconds or settings.watchdog_lookback_seconds
    journals = await _journals(catalog.store, definitions)
    ledger = Ledger(catalog.store) if catalog.store is not None else None
    seen = await Observer(client, journals, ledger).observe(
        definitions, now, lookback, state.last_pass_at
    )
    grace = timedelta(seconds=UNRUN_GRACE_S)
    # Aligned fires queue: the last of a burst may start later and still be on time.
    allowances = misfire.burst_allowances(
        {s.name: s.expected_fires for s in seen if s.enabled}, settings.aligned_start_seconds
    )
    for s in seen:
        s.queue_allowance_s = allowances.get(s.name, 0.0)
        s.tolerance_s += s.queue_allowance_s
        # The server's missed-catchup counter is for the schedule's lifetime: a cause
        # quotes what it gained since the previous pass.
        s.schedule.missed_catchup_before = state.missed_catchup.get(s.activity_id)
        s.schedule.buffer_dropped_before = state.buffer_dropped.get(s.activity_id)
        s.unrun_grace_until = state.unrun_since.get(s.activity_id, now) + grace
    statuses = [classify(s, now) for s in seen]
    expecting = [d for d in everything if expects_events(d) and (not names or d.name in names)]
    watch_since = {str(d.id): state.event_watch_since.get(str(d.id), now) for d in expecting}
    statuses += await _event_statuses(client, ledger, expecting, watch_since, now)
    starts = {s.activity_id: s.window_start for s in seen}
    problem = None
    if not names and any(
        d.enabled and isinstance(d.trigger_config, EventTrigger) for d in everything
    ):
        problem = router_problem(
            await router_health(settings),
            settings.router_alert_pending,
            settings.router_alert_age_seconds,
        )
    # Sinks: every open delivery, whatever started its run (schedule, manual, event, alert).
    problems = None
    try:
        deliveries = await open_deliveries(client)
    except (RPCError, TimeoutError) as err:  # sinks not seen: their alerts stay as they are
        log.warning("open deliveries not seen", extra={"error": type(err).__name__})
    else:
        counts = per_definition(deliveries)
        for st in statuses:
            mine = counts.get(st.activity_id, Counter())
            st.deliveries_waiting = mine["pending"] + mine["waiting"]
            st.deliveries_dead = mine["dead"]
        thresholds = {str(d.id): float(d.watch.delivery_alert_after_seconds) for d in everything}
        problems = None if names else sink_problems(deliveries, thresholds, now)
    muted = await _muted(catalog.store, everything, now)
    queues = None if names else await _queues_without_pollers(client, statuses, now)
    blind_since = {
        st.activity_id: state.blind_since.get(st.activity_id, now)
        for st in statuses
        if st.blind is not None
    }
    folded = advance(
        state,
        statuses,
        now,
        starts,
        complete=not names,
        router_problem=problem,
        sink_problems=problems,
        blind_problem=blind_problem(statuses, blind_since, now, settings),
        muted=muted,
        names={str(d.id): d.name for d in everything},
        queue_problems=queues,
    )
    folded.state.blind_since = blind_since
    first_judged, folded.state.counted_through = _new_verdicts(statuses, state.counted_through)
    by_id = {st.activity_id: st for st in statuses}
    pauses, paused_pages = pause_orders(
        [(s, by_id[s.activity_id], s.pause_after) for s in seen if s.activity_id in by_id], now
    )
    folded.recovered.extend(paused_pages)  # a notice: sent once, the failures stay open
    gap = _gap_notice(state.last_pass_at, now, settings) if not names else None
    if gap is not None:
        folded.recovered.append(gap)
    folded.state.event_watch_since = watch_since
    folded.state.unrun_since = {
        st.activity_id: state.unrun_since.get(st.activity_id, now)
        for st in statuses
        if any(v.kind == FireKind.DUE and v.detail == AWAITING_SERVER for v in st.verdicts)
    }
    # The baseline moves only in passes without a missing fire, so a cause judged late in
    # an outage still counts every fire the outage missed.
    missing = {
        st.activity_id for st in statuses if any(v.kind == FireKind.MISSING for v in st.verdicts)
    }
    calm = [s for s in seen if s.schedule.exists and s.activity_id not in missing]
    folded.state.missed_catchup.update(
        {s.activity_id: s.schedule.missed_catchup_window for s in calm}
    )
    folded.state.buffer_dropped.update({s.activity_id: s.schedule.buffer_dropped for s in calm})
    summaries = [DefinitionSummary.of(s) for s in statuses]
    for summary in summaries:
        summary.muted = muted.get(summary.activity_id) or muted.get(ALL)
    return WatchdogPlan(
        now=now,
        summaries=summaries,
        advance=folded,
        alerts=alerts,
        verdicts=first_judged,
        pauses=pauses,
    )
