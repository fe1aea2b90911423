"""Backfill and recover (the CLI and the API): plan from the watchdog's verdicts, store the
plan, start it paced; wake a window's dead and waiting deliveries with one summary."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from activities.watchdog_judge import fire_verdicts
from activity_core.catalog import Catalog
from activity_core.domain import ActivityDefinition
from activity_core.domain import search_attributes as sa
from activity_core.domain.backfill import (
    MAX_FIRES,
    BackfillPlan,
    Need,
    PlanItem,
    backfill_input,
    new_plan,
    plan_items,
)
from activity_core.domain.constants import BACKFILL_WORKFLOW, ORCHESTRATOR_TQ, RECOVER_WORKFLOW
from activity_core.domain.recover import MAX_DELIVERIES, RecoverInput
from activity_core.domain.schedule_spec import is_scheduled
from activity_core.settings import Settings
from activity_core.store.backfills import Backfills

MAX_RANGE = timedelta(days=35)
"""Widest range one backfill looks at (Temporal's retention is usually shorter; the
ledger answers for older runs)."""
CONCURRENCY = 8
MAX_RUNS = 5000
"""Most runs one plan starts (its workflow's input and history stay small)."""


class BackfillError(ValueError):
    """A backfill or recover request that cannot be done as asked (the message names the
    field and the fix)."""


class PlanNotFound(LookupError):
    """No stored plan has that id."""


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def check_range(
    since: datetime, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """``since`` and ``until`` as aware UTC, ``until`` no later than now.

    Raises:
        BackfillError: ``since`` not before ``until``, in the future, or the range wider
            than 35 days.
    """
    since = _aware(since).astimezone(UTC)
    until = min(_aware(until).astimezone(UTC), now) if until is not None else now
    if since >= now:
        raise BackfillError(f"since: {since.isoformat()} is not in the past")
    if since >= until:
        raise BackfillError(f"since: {since.isoformat()} is not before until {until.isoformat()}")
    if until - since > MAX_RANGE:
        raise BackfillError(
            f"since: the range is {(until - since).days} days; at most {MAX_RANGE.days} "
            "(split it into several backfills)"
        )
    return since, until


async def _within_retention(client: Client, since: datetime, now: datetime) -> None:
    """Without the ledger, only Temporal remembers runs: a range older than its retention
    would take fires that ran for missing and run them again."""
    desc = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=client.namespace), retry=True
    )
    ttl = desc.config.workflow_execution_retention_ttl.ToTimedelta()
    if ttl and since < now - ttl:
        raise BackfillError(
            f"since: without the registry database (ACTCORE_DB_URL) runs older than "
            f"Temporal's retention ({ttl.days} days) cannot be seen; a later since"
        )


async def _targets(catalog: Catalog, names: Sequence[str]) -> list[ActivityDefinition]:
    if not names:
        view = await catalog.view()
        return [d for d in view.definitions if is_scheduled(d) and d.enabled]
    out = []
    for name in names:
        d = await catalog.find(name)
        if not is_scheduled(d):
            raise BackfillError(
                f"name: {d.name} has a {d.trigger_config.trigger_type} trigger; only cron and "
                "interval definitions have fires to backfill (`actcore trigger` runs it now)"
            )
        if not d.enabled:
            raise BackfillError(
                f"name: {d.name} is disabled: its schedule has no fires to backfill "
                "(enable it first)"
            )
        out.append(d)
    return out


async def plan_backfill(
    client: Client,
    catalog: Catalog,
    *,
    names: Sequence[str],
    since: datetime,
    until: datetime | None,
    only: Sequence[Need],
    every: bool = False,
    force: bool = False,
    who: str,
    dry_run: bool = False,
) -> BackfillPlan:
    """The plan for ``names`` (every enabled scheduled definition when empty): each fire of
    the range with its verdict and what will happen to it.

    Raises:
        BackfillError: A bad range, a definition without fires, too many fires.
        DefinitionNotFound: A name is not in force.
    """
    now = datetime.now(UTC)
    since, until = check_range(since, until, now)
    if catalog.store is None:
        await _within_retention(client, since, now)
    definitions = await _targets(catalog, names)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(d: ActivityDefinition) -> list[PlanItem]:
        async with gate:
            verdicts = await fire_verdicts(client, catalog.store, d, since, strict=True)
        verdicts = [v for v in verdicts if v.fire <= until]
        if len(verdicts) >= MAX_FIRES:  # fire lists stop there: never plan a cut range
            raise BackfillError(
                f"since: {d.name} has {len(verdicts)} fires in the range; at most {MAX_FIRES} "
                "per backfill (a shorter range)"
            )
        return plan_items(d, verdicts, only=only, every=every, force=force, now=now)

    items = [i for per in await asyncio.gather(*(one(d) for d in definitions)) for i in per]
    to_run = sum(1 for i in items if i.action == "run")
    if to_run > MAX_RUNS:
        raise BackfillError(
            f"since: the plan would start {to_run} runs; at most {MAX_RUNS} per backfill "
            "(a shorter range, or fewer definitions)"
        )
    return new_plan(
        since=since,
        until=until,
        only=only,
        every=every,
        force=force,
        items=items,
        created_by=who,
        now=now,
        dry_run=dry_run,
    )


async def store_plan(catalog: Catalog, plan: BackfillPlan) -> None:
    """Keep the plan in the registry database (needed to approve it later)."""
    if catalog.store is None:
        raise BackfillError(
            "plan_only: storing a plan needs the registry database (ACTCORE_DB_URL is off)"
        )
    await Backfills(catalog.store).add(plan)


async def start_plan(
    client: Client,
    settings: Settings,
    plan: BackfillPlan,
    *,
    task_queue: str = ORCHESTRATOR_TQ,
    activity_task_queue: str | None = None,
) -> WorkflowHandle[object, object] | None:
    """Start the workflow that starts the plan's runs, paced (None when none is to run).
    One workflow per plan: starting a plan twice starts it once."""
    if not plan.to_run:
        return None
    return await client.start_workflow(
        BACKFILL_WORKFLOW,
        backfill_input(plan, settings.backfill_rate, task_queue, activity_task_queue),
        id=plan.workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"backfill plan {plan.plan_id}: {len(plan.to_run)} runs",
    )


async def approve(
    client: Client, settings: Settings, catalog: Catalog, plan_id: str, who: str
) -> BackfillPlan:
    """Start a stored plan.

    Raises:
        BackfillError: No registry database, or the plan was already started.
        PlanNotFound: No such plan.
    """
    if catalog.store is None:
        raise BackfillError("plan_id: approving needs the registry database (ACTCORE_DB_URL)")
    backfills = Backfills(catalog.store)
    started = await backfills.start(plan_id, who, datetime.now(UTC))
    if started is None:
        found = await backfills.get(plan_id)
        if found is None:
            raise PlanNotFound(f"plan_id: no backfill plan {plan_id!r} (`actcore backfill list`)")
        raise BackfillError(
            f"plan_id: {plan_id} was already {found.state}"
            + (
                f" by {found.started_by} at {found.started_at:%F %T} UTC"
                if found.started_at
                else ""
            )
        )
    try:
        await start_plan(client, settings, started)
    except BaseException:
        await backfills.unstart(plan_id)  # nothing started: it can be approved again
        raise
    return started


async def recover_candidates(
    client: Client, since: datetime, until: datetime, sink: str | None
) -> list[tuple[str, str]]:
    """(delivery id, sink) of the open deliveries started in the window that are dead or
    waiting, oldest first."""
    query = (
        "WorkflowType = 'ReportDeliveryWorkflow' AND ExecutionStatus = 'Running' AND "
        "DeliveryStatus IN ('dead', 'waiting') AND "
        f"StartTime >= '{sa.visibility_time(since)}' AND StartTime <= '{sa.visibility_time(until)}'"
    )
    found = []
    async for ex in client.list_workflows(query, limit=100_000):
        at_sink = ex.typed_search_attributes.get(sa.DELIVERY_SINK) or ""
        if sink is None or at_sink == sink:
            found.append((ex.start_time, ex.id, at_sink))
    return [(wid, s) for _, wid, s in sorted(found)]


async def start_recover(
    client: Client,
    settings: Settings,
    *,
    since: datetime,
    until: datetime | None,
    sink: str | None,
    settle_seconds: float = 60.0,
    dry_run: bool = False,
    task_queue: str = ORCHESTRATOR_TQ,
    activity_task_queue: str | None = None,
) -> tuple[RecoverInput, WorkflowHandle[object, object] | None]:
    """Find the window's dead and waiting deliveries and (unless ``dry_run``) start the
    recover that wakes them and writes one summary note."""
    now = datetime.now(UTC)
    since, until = check_range(since, until, now)
    found = await recover_candidates(client, since, until, sink)
    left = max(0, len(found) - MAX_DELIVERIES)
    found = found[:MAX_DELIVERIES]  # the oldest; the next recover takes the rest
    inp = RecoverInput(
        left_for_next=left,
        recover_id=uuid.uuid4().hex[:12],
        delivery_ids=[d for d, _ in found],
        sinks=sorted({s for _, s in found}),
        since=since,
        until=until,
        sink=sink,
        rate_per_second=settings.wake_rate,
        settle_seconds=settle_seconds,
        activity_task_queue=activity_task_queue,
    )
    if dry_run or not found:
        return inp, None
    handle = await client.start_workflow(
        RECOVER_WORKFLOW,
        inp,
        id=f"recover-{inp.recover_id}",
        task_queue=task_queue,
        static_summary=f"recover {len(found)} deliveries since {since:%F %H:%M} UTC",
    )
    return inp, handle
