"""What each handler's ``params`` may hold: one pydantic model per handler, checked when a
definition is loaded (file or API) so a typo fails at load, not at fire time. Pure."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from activity_core.domain.tasks import MAX_TASKS, Task, TaskLink


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class _TaskLinkParam(TaskLink):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TaskParam(Task):
    """A task written in a definition file: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    links: list[_TaskLinkParam] = Field(default_factory=list, max_length=20)  # type: ignore[assignment]
    """The source items."""


class StaticReportParams(_Params):
    """``static_report``."""

    title: str | None = Field(default=None, max_length=500)
    """Report title (default: the definition's name)."""
    body: str | None = Field(default=None, max_length=100_000)
    """Report body (default: the definition's description)."""
    tasks: list[TaskParam] = Field(default_factory=list, max_length=MAX_TASKS)
    """Tasks the report carries every time (a standing reminder filed once per key)."""

    @field_validator("tasks")
    @classmethod
    def _one_task_per_key(cls, tasks: list[TaskParam]) -> list[TaskParam]:
        first: dict[str, int] = {}
        for i, task in enumerate(tasks):
            if task.key in first:
                raise ValueError(
                    f"tasks[{i}].key {task.key!r} is already the key of tasks[{first[task.key]}]"
                    ": a key names one task (the issue sink files it once); give each its own"
                )
            first[task.key] = i
        return tasks


class ActivityDigestParams(_Params):
    """``activity_digest``."""

    hours: Annotated[float, Field(gt=0, le=24 * 366)] = 24.0
    """How far back the digest looks."""


class WsjfTriageParams(_Params):
    """``wsjf_triage``."""

    top_n: Annotated[int, Field(ge=1, le=1000)] = 10
    """How many items the overall ranking lists."""
    stale_days: Annotated[float, Field(gt=0, le=3650)] = 14.0
    """Items untouched this long are listed as stale."""
    max_tasks: Annotated[int, Field(ge=0, le=200)] = 50
    """Most follow-up tasks one run emits (most urgent first); 0 emits none."""


HANDLER_PARAMS: dict[str, type[_Params]] = {
    "static_report": StaticReportParams,
    "activity_digest": ActivityDigestParams,
    "wsjf_triage": WsjfTriageParams,
}
"""Handler name to its params model (every name of ``HANDLER_NAMES`` has one)."""

HANDLER_RESOLVERS: dict[str, tuple[str, ...]] = {"wsjf_triage": ("work_items",)}
"""The context resolvers a handler cannot run without (checked at load, not at fire)."""
