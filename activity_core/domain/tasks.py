"""Tasks: follow-ups a report asks an operator to pick up, filed through an issue sink.

A task's ``key`` is stable for the same item and reason, so the same problem found on
every run is one issue (issue-core creates or gets by key), not one a day. Pure.

These shapes are recorded in workflow histories: add fields with defaults, never rename or
remove one.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from activity_core.domain.definition import ActivityDefinition

TASK_KEY_PATTERN = r"^[a-z0-9][a-z0-9._:-]{0,199}$"
MAX_TASKS = 200
"""Most tasks one report carries (a handler cuts its list and says so)."""
PRIORITIES = ("urgent", "high", "normal", "low")
Priority = Literal["urgent", "high", "normal", "low"]
TaskState = Literal["dry_run", "pending", "filed", "already_filed", "rejected", "not_emitted"]
"""``dry_run``: the sink is ``null``; ``pending``: handed to issue-core, not yet accepted;
``filed``: created by this run; ``already_filed``: issue-core had it (an earlier run);
``rejected``: issue-core refused it (see ``error``); ``not_emitted``: no issue sink."""

_KEY_UNSAFE = re.compile(r"[^a-z0-9._-]+")


class TaskLink(BaseModel):
    """A source item a task is about."""

    kind: str = Field(min_length=1, max_length=50)
    """What it is, e.g. ``work_item``."""
    id: str = Field(min_length=1, max_length=200)
    """Its id in its own system."""
    title: str | None = Field(default=None, max_length=300)
    """Its title, when known."""
    url: str | None = Field(default=None, max_length=2000)
    """Where to open it, when known."""


class Task(BaseModel):
    """One follow-up an operator should pick up."""

    key: str = Field(pattern=TASK_KEY_PATTERN)
    """Stable across runs for the same item and reason (``missing-estimate:wi-12``)."""
    title: str = Field(min_length=1, max_length=300)
    """One line."""
    body: str = Field(default="", max_length=4000)
    """Markdown: why, and what to do."""
    labels: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=20
    )
    """Labels (the issue sink adds its own)."""
    priority: Priority = "normal"
    """``urgent``, ``high``, ``normal`` or ``low``."""
    links: list[TaskLink] = Field(default_factory=list, max_length=20)
    """The source items."""


def task_key(*parts: str) -> str:
    """A stable task key from its reason and item id: ``task_key("stale", "WI-12")`` is
    ``stale:wi-12``. Characters a key cannot hold become ``-`` and, when that changed more
    than the case, a short hash of the original keeps two ids from colliding."""
    cleaned: list[str] = []
    for part in parts:
        low = part.strip().lower()
        safe = _KEY_UNSAFE.sub("-", low).strip("-.") or "x"
        if safe != low:
            safe = f"{safe[:40]}-{hashlib.sha256(part.encode()).hexdigest()[:6]}"
        cleaned.append(safe[:60])
    return ":".join(cleaned)[:200]


def issue_idempotency_key(activity_id: str, key: str) -> str:
    """What issue-core deduplicates on: the definition and the task key (never the run)."""
    return f"{activity_id}:{key}"


class FiledTask(BaseModel):
    """A task issue-core accepted."""

    key: str
    """The task key."""
    issue_id: str | None = None
    """issue-core's id of the issue."""
    url: str | None = None
    """Where the issue is, when issue-core says."""
    created: bool = True
    """False: issue-core already had it (create-or-get, or 409)."""


class TaskRecord(BaseModel):
    """One row of ``emitted_tasks``: a task of a run and what became of it at one sink."""

    run_id: str
    """The run that emitted it."""
    sink: str
    """Issue sink name (``-`` when the definition has none)."""
    activity_id: str
    """Definition id."""
    activity_name: str
    """Definition name."""
    backend: str
    """``null``, ``issue_core`` or ``none``."""
    key: str
    """Task key."""
    title: str
    """Task title."""
    priority: str = "normal"
    """Task priority."""
    labels: list[str] = Field(default_factory=list)
    """Labels sent."""
    state: TaskState
    """What became of it."""
    issue_id: str | None = None
    """issue-core's id, once filed."""
    issue_url: str | None = None
    """issue-core's URL, once filed."""
    error: str | None = None
    """Why issue-core rejected it (no secrets)."""
    updated_at: datetime
    """Time of the state described."""


class TaskBatchRecord(BaseModel):
    """Input of the ``record_tasks`` local activity."""

    records: list[TaskRecord]
    """Rows to upsert (the newest state of each wins)."""


def task_records(
    tasks: list[Task],
    *,
    run_id: str,
    sink: str,
    activity_id: str,
    activity_name: str,
    backend: str,
    state: TaskState,
    at: datetime,
    labels: list[str] | None = None,
    filed: dict[str, FiledTask] | None = None,
    rejected: dict[str, str] | None = None,
) -> list[TaskRecord]:
    """Ledger rows of a batch: filed and rejected tasks take their own state."""
    filed = filed or {}
    rejected = rejected or {}
    out = []
    for task in tasks:
        done = filed.get(task.key)
        row_state: TaskState = state
        if done is not None:
            row_state = "filed" if done.created else "already_filed"
        elif task.key in rejected:
            row_state = "rejected"
        out.append(
            TaskRecord(
                run_id=run_id,
                sink=sink,
                activity_id=activity_id,
                activity_name=activity_name,
                backend=backend,
                key=task.key,
                title=task.title,
                priority=task.priority,
                labels=merge_labels(labels or [], task.labels),
                state=row_state,
                issue_id=done.issue_id if done else None,
                issue_url=done.url if done else None,
                error=rejected.get(task.key),
                updated_at=at,
            )
        )
    return out


def merge_labels(sink_labels: list[str], task_labels: list[str]) -> list[str]:
    """The sink's labels, then the task's, each once."""
    return list(dict.fromkeys([*sink_labels, *task_labels]))


def tasks_heading(definition: ActivityDefinition) -> str:
    """What the note says about its tasks: a dry run, filed, or not emitted at all."""
    backends = {s.backend or "null" for s in definition.issue_sinks}
    if not backends:
        return "Tasks (not filed: the definition has no issue sink)"
    if backends == {"null"}:
        return "Tasks (dry run: the issue sink is null)"
    names = ", ".join(f"`{s.name}`" for s in definition.issue_sinks if s.backend == "issue_core")
    if "null" in backends:
        return f"Tasks (filed at issue-core through {names}; dry run for the null sinks)"
    return f"Tasks (filed at issue-core through {names}; see its delivery)"


def tasks_markdown(tasks: list[Task], heading: str) -> str:
    """The note's section listing tasks (what would be, or was, filed)."""
    if not tasks:
        return ""
    lines = [f"\n\n## {heading}\n"]
    for task in tasks:
        sources = ", ".join(link.id for link in task.links)
        lines.append(
            f"- **{task.title}** (`{task.key}`, {task.priority}"
            + (f", {', '.join(task.labels)}" if task.labels else "")
            + (f"; {sources}" if sources else "")
            + ")"
        )
    return "\n".join(lines) + "\n"
