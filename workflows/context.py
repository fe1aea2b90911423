"""A run's context: each resolver of the definition as an activity on the run's activity
queue; an optional one that fails degrades the report, a required one stops the handler."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.context import ContextActivities
    from activity_core.domain import ActivityDefinition, ResolveInput, worst_case_attempt_seconds
    from activity_core.domain.constants import RESOLVER_RETRY


async def resolve_context(
    definition: ActivityDefinition, atq: str
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Resolve the definition's context: (context, degraded optional, missing required)."""
    context: dict[str, Any] = {}
    degraded: list[str] = []
    missing: list[str] = []
    for resolver in definition.resolvers:
        try:
            result = await workflow.execute_activity_method(
                ContextActivities.resolve_context,
                ResolveInput(resolver=resolver),
                task_queue=atq,
                start_to_close_timeout=timedelta(seconds=worst_case_attempt_seconds(resolver) + 10),
                retry_policy=RESOLVER_RETRY,
                summary=f"resolve {resolver.name.value}",
            )
        except ActivityError as exc:
            cause = exc.cause
            diagnostic = cause.message if isinstance(cause, ApplicationError) else str(cause)
            workflow.logger.error("resolver failed: %s", diagnostic)
            (missing if resolver.required else degraded).append(diagnostic)
            continue
        context[result.name] = result.items
    return context, degraded, missing
