"""A run's context: each resolver of the definition as an activity on the run's activity
queue; an optional one that fails degrades the report, a required one stops the handler.

The resolvers start together (patch ``resolvers-in-parallel``): a run with three
resolvers waits for the slowest, not for their sum, and once a required one has given up
the others are cancelled, since the run can no longer produce its report; its "could
not run" note follows at once. Histories from before run them one after another.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities.context import ContextActivities
    from activity_core.domain import (
        ActivityDefinition,
        ResolveInput,
        ResolveResult,
        worst_case_attempt_seconds,
    )
    from activity_core.domain.constants import RESOLVER_RETRY, RESOLVERS_PARALLEL_PATCH
    from activity_core.domain.definition import ResolverConfig

Outcome = tuple[ResolveResult | None, str | None]
"""A resolver's result, or the diagnostic of its failure."""


async def _resolve(resolver: ResolverConfig, atq: str) -> Outcome:
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
        if isinstance(cause, CancelledError):
            # Cancelled by the run itself once a required resolver had given up.
            return None, f"resolver {resolver.name.value} not waited for"
        diagnostic = cause.message if isinstance(cause, ApplicationError) else str(cause)
        workflow.logger.error("resolver failed: %s", diagnostic)
        return None, diagnostic
    return result, None


async def resolve_context(
    definition: ActivityDefinition, atq: str
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Resolve the definition's context: (context, degraded optional, missing required)."""
    resolvers = definition.resolvers
    outcomes: dict[int, Outcome] = {}
    if len(resolvers) > 1 and workflow.patched(RESOLVERS_PARALLEL_PATCH):
        tasks = [asyncio.create_task(_resolve(r, atq)) for r in resolvers]
        index = {id(t): i for i, t in enumerate(tasks)}
        pending = list(tasks)
        while pending:
            done, pending = await workflow.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=lambda t: index[id(t)]):
                outcomes[index[id(task)]] = task.result()
            if any(resolvers[i].required and o[1] is not None for i, o in outcomes.items()):
                break
        for task in pending:
            # A required resolver gave up: the others cannot make the run succeed.
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    else:
        for i, resolver in enumerate(resolvers):
            outcomes[i] = await _resolve(resolver, atq)
    context: dict[str, Any] = {}
    degraded: list[str] = []
    missing: list[str] = []
    for i, resolver in enumerate(resolvers):
        result, diagnostic = outcomes.get(i, (None, None))
        if diagnostic is not None:
            (missing if resolver.required else degraded).append(diagnostic)
        elif result is not None:
            context[result.name] = result.items
    return context, degraded, missing
