"""Repair after an outage: which fires of a range a backfill runs, and why. Pure.

The watchdog's verdict of each fire decides (:mod:`activity_core.domain.classify`): a fire
that ran, ran late, was covered or is still open is left alone; a ``missing`` or
``failed`` fire runs (by default); a fire skipped by its policy runs only when asked
(``--only skipped``). The definition's policy still holds: ``catchup_latest`` runs the
latest fire of the range for all of them unless ``--every`` is given, and a fire older
than the trigger's ``max_lateness_seconds`` needs ``--force``.

Each fire runs under a deterministic workflow id (:func:`backfill_run_id`), so a second
backfill of the same range starts nothing that already ran or is running.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from activity_core.domain.definition import (
    ActivityDefinition,
    CronTrigger,
    IntervalTrigger,
    MisfirePolicy,
)
from activity_core.domain.watchdog import FireKind, FireVerdict

MAX_FIRES = 5000
"""Fires one definition may have in a plan's range, exclusive (fire lists stop at 5,000:
a range that reaches it is refused; split it)."""


class Need(StrEnum):
    """What a fire needs, by its verdict (``--only`` takes these)."""

    MISSING = "missing"
    FAILED = "failed"
    SKIPPED = "skipped"


DEFAULT_ONLY: tuple[Need, ...] = (Need.MISSING, Need.FAILED)

_NEED: dict[FireKind, Need] = {
    FireKind.MISSING: Need.MISSING,
    FireKind.FAILED: Need.FAILED,
    FireKind.SKIPPED_BY_POLICY: Need.SKIPPED,
    FireKind.SKIPPED_TOO_LATE: Need.SKIPPED,
}
_OPEN = {
    FireKind.RUNNING,
    FireKind.RUNNING_TOO_LONG,
    FireKind.PENDING_UNCLAIMED,
    FireKind.DUE,
}


class PlanItem(BaseModel):
    """One fire of the range: its verdict and what the backfill does with it."""

    definition: str
    activity_id: str
    fire: datetime
    verdict: str
    action: Literal["run", "leave"]
    why: str
    run_id: str | None = None
    """The workflow id the fire runs under (``run`` only)."""
    covers: list[datetime] = Field(default_factory=list)
    """Earlier fires this run stands for (``catchup_latest``)."""


class BackfillPlan(BaseModel):
    """A backfill: the fires of a range, what will happen to each, and its state."""

    plan_id: str
    since: datetime
    until: datetime
    only: list[Need]
    every: bool = False
    force: bool = False
    created_at: datetime
    created_by: str
    state: Literal["dry_run", "planned", "started"] = "planned"
    """``planned``: stored, waiting for ``approve``; ``started``: its runs are starting."""
    started_by: str | None = None
    started_at: datetime | None = None
    items: list[PlanItem] = Field(default_factory=list)

    @property
    def to_run(self) -> list[PlanItem]:
        """The items that run, oldest fire first."""
        return sorted((i for i in self.items if i.action == "run"), key=lambda i: i.fire)

    @property
    def workflow_id(self) -> str:
        """The id of the workflow that starts the plan's runs (one per plan)."""
        return f"backfill-plan-{self.plan_id}"


def backfill_run_id(activity_id: str, fire: datetime, attempt: int = 1) -> str:
    """The workflow id of a backfill run of ``fire``: the same for every backfill, so a
    fire that ran or is running is not started again. ``attempt`` counts backfill runs
    of that fire that did not succeed (``-2``, ``-3``...): such a fire is judged
    ``failed`` and may be backfilled again."""
    base = f"backfill-{activity_id}-{fire.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return base if attempt <= 1 else f"{base}-{attempt}"


def next_attempt(activity_id: str, fire: datetime, last_run_id: str | None) -> int:
    """The attempt after ``last_run_id`` when it was a backfill run of ``fire`` (else 1)."""
    base = backfill_run_id(activity_id, fire)
    if not last_run_id or not last_run_id.startswith(base):
        return 1
    rest = last_run_id[len(base) :]
    if not rest:
        return 2
    return int(rest[1:]) + 1 if rest[1:].isdigit() else 1


def is_backfill_run(run_id: str | None) -> bool:
    """Whether a run id is a backfill run's (:func:`backfill_run_id`)."""
    return (
        bool(run_id)
        and str(run_id).startswith("backfill-")
        and not str(run_id).startswith("backfill-plan-")
    )


def parse_only(values: Iterable[str]) -> list[Need]:
    """``--only missing,failed`` as needs (ValueError names the known ones)."""
    out: list[Need] = []
    for raw in values:
        for part in raw.split(","):
            word = part.strip().lower()
            if not word:
                continue
            try:
                need = Need(word)
            except ValueError:
                known = ", ".join(n.value for n in Need)
                raise ValueError(f"unknown --only value {word!r} (known: {known})") from None
            if need not in out:
                out.append(need)
    return out or list(DEFAULT_ONLY)


def _leave_why(kind: FireKind, detail: str) -> str:
    if kind in _OPEN:
        return f"still open ({kind.value}): nothing to backfill yet"
    if kind == FireKind.UNKNOWN:
        return f"not seen ({detail}): plan again once the server answers"
    if kind == FireKind.COVERED:
        return (
            f"covered: a run stands for it ({detail})" if detail else "covered: a run stands for it"
        )
    return f"{kind.value}: it ran"


def plan_items(
    definition: ActivityDefinition,
    verdicts: Sequence[FireVerdict],
    *,
    only: Sequence[Need],
    every: bool,
    force: bool,
    now: datetime,
) -> list[PlanItem]:
    """What a backfill does with each judged fire of one definition (oldest first)."""
    trig = definition.trigger_config
    assert isinstance(trig, CronTrigger | IntervalTrigger)
    policy = trig.misfire_policy
    items: list[PlanItem] = []

    def item(v: FireVerdict, action: Literal["run", "leave"], why: str) -> PlanItem:
        return PlanItem(
            definition=definition.name,
            activity_id=str(definition.id),
            fire=v.fire,
            verdict=v.kind.value,
            action=action,
            why=why,
            run_id=backfill_run_id(
                str(definition.id), v.fire, next_attempt(str(definition.id), v.fire, v.run_id)
            )
            if action == "run"
            else None,
        )

    for v in sorted(verdicts, key=lambda v: v.fire):
        need = _NEED.get(v.kind)
        if need is None:
            items.append(item(v, "leave", _leave_why(v.kind, v.detail)))
        elif need not in only:
            hint = (
                f"skipped by policy {policy.value}; `--only skipped` runs it"
                if need == Need.SKIPPED
                else f"{need.value}; not asked for (`--only {need.value}`)"
            )
            items.append(item(v, "leave", hint))
        elif (
            trig.max_lateness_seconds is not None
            and not force
            and (now - v.fire).total_seconds() > trig.max_lateness_seconds
        ):
            items.append(
                item(
                    v,
                    "leave",
                    f"{need.value}, older than max_lateness_seconds "
                    f"({trig.max_lateness_seconds} s): `--force` runs it",
                )
            )
        else:
            items.append(item(v, "run", f"{need.value}: runs with its own nominal time"))
    if policy == MisfirePolicy.CATCHUP_LATEST and not every:
        runs = [i for i in items if i.action == "run"]
        if runs:
            runs[-1].covers = [i.fire for i in runs[:-1]]
        for earlier in runs[:-1]:
            earlier.action, earlier.run_id = "leave", None
            earlier.why = (
                f"{earlier.verdict}; catchup_latest: the latest fire of the range "
                f"({runs[-1].fire:%Y-%m-%d %H:%M:%S} UTC) stands for it (`--every` runs each)"
            )
    return items


def new_plan(
    *,
    since: datetime,
    until: datetime,
    only: Sequence[Need],
    every: bool,
    force: bool,
    items: list[PlanItem],
    created_by: str,
    now: datetime,
    dry_run: bool,
) -> BackfillPlan:
    """A plan over ``items`` (of one or more definitions)."""
    return BackfillPlan(
        plan_id=uuid.uuid4().hex[:12],
        since=since,
        until=until,
        only=list(only),
        every=every,
        force=force,
        created_at=now,
        created_by=created_by,
        state="dry_run" if dry_run else "planned",
        items=sorted(items, key=lambda i: (i.fire, i.definition)),
    )


def plan_lines(plan: BackfillPlan, zone: str = "UTC") -> list[str]:
    """The plan as text: one line per fire, then what it comes to."""
    lines = [
        f"backfill plan {plan.plan_id} ({plan.state}): {plan.since:%Y-%m-%d %H:%M} to "
        f"{plan.until:%Y-%m-%d %H:%M} UTC, only {','.join(n.value for n in plan.only)}"
        + (", every fire" if plan.every else "")
        + (", forced" if plan.force else "")
    ]
    for i in plan.items:
        mark = "RUN  " if i.action == "run" else "leave"
        lines.append(
            f"  {mark} {i.definition:<32} {i.fire:%Y-%m-%d %H:%M:%S} UTC  {i.verdict:<18} {i.why}"
        )
    n = len(plan.to_run)
    lines.append(f"{n} to run, {len(plan.items) - n} left alone")
    return lines


class BackfillStart(BaseModel):
    """One run a backfill starts."""

    activity_id: str
    activity_name: str
    fire: datetime
    run_id: str
    covers: list[datetime] = Field(default_factory=list)


class BackfillInput(BaseModel):
    """Input of ``BackfillWorkflow``: the runs of a plan, in order, and their pace."""

    plan_id: str
    runs: list[BackfillStart]
    rate_per_second: float
    run_task_queue: str
    activity_task_queue: str | None = None
    started: list[str] = Field(default_factory=list)
    """Carried over continue-as-new: runs started so far."""
    already: list[str] = Field(default_factory=list)
    """Carried over continue-as-new: runs that already ran or are running (their id is
    taken), so nothing was started for them."""


class BackfillResult(BaseModel):
    """What a backfill started."""

    plan_id: str
    started: list[str]
    already: list[str]


def backfill_input(
    plan: BackfillPlan, rate: float, run_task_queue: str, activity_task_queue: str | None
) -> BackfillInput:
    """The workflow input that starts ``plan``'s runs."""
    return BackfillInput(
        plan_id=plan.plan_id,
        runs=[
            BackfillStart(
                activity_id=i.activity_id,
                activity_name=i.definition,
                fire=i.fire,
                run_id=i.run_id or backfill_run_id(i.activity_id, i.fire),
                covers=i.covers,
            )
            for i in plan.to_run
        ],
        rate_per_second=rate,
        run_task_queue=run_task_queue,
        activity_task_queue=activity_task_queue,
    )
