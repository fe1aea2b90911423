"""Timeout budget of a run: resolvers (with every retry) plus the handler must fit.

Deliveries to remote sinks are not counted: they run in their own durable workflows and
never hold the run up. Pure; the resolver activity uses the same backoff caps.
"""

from __future__ import annotations

from activity_core.domain.constants import (
    HANDLER_BUDGET_S,
    RESOLVER_RETRY,
    RESOLVER_RETRY_WAITS_S,
)
from activity_core.domain.definition import ActivityDefinition, ResolverConfig

DEFAULT_HANDLER_BUDGET_S = 120.0
MAX_BACKOFF_S = 8.0
"""Longest wait between two HTTP tries of a resolver inside one activity attempt."""
MAX_RETRY_AFTER_S = 15.0
"""Longest ``Retry-After`` a resolver honours inside one activity attempt."""


def worst_case_attempt_seconds(r: ResolverConfig) -> float:
    """Upper bound of one resolver activity attempt: every try times out, every wait is maximal."""
    waits = (r.tries - 1) * max(MAX_BACKOFF_S, MAX_RETRY_AFTER_S)
    return r.tries * 2 * r.timeout_seconds + waits


def handler_budget_seconds(definition: ActivityDefinition) -> float:
    """Start-to-close timeout of the definition's handler activity."""
    return HANDLER_BUDGET_S.get(definition.handler, DEFAULT_HANDLER_BUDGET_S)


def run_budget(definition: ActivityDefinition) -> tuple[float, str]:
    """Worst-case seconds before the report is persisted, and the arithmetic behind it."""
    attempts = RESOLVER_RETRY.maximum_attempts
    parts: list[str] = []
    total = 0.0
    for r in definition.resolvers:
        one = worst_case_attempt_seconds(r)
        cost = attempts * one + RESOLVER_RETRY_WAITS_S
        total += cost
        parts.append(
            f"{r.name.value} {attempts} x ({r.tries} tries x 2 x {r.timeout_seconds:g} s "
            f"+ waits) + {RESOLVER_RETRY_WAITS_S} s = {cost:g} s"
        )
    handler = handler_budget_seconds(definition)
    total += handler
    parts.append(f"handler {definition.handler} {handler:g} s")
    return total, " + ".join(parts) + f" = {total:g} s"


def budget_error(definition: ActivityDefinition, limit_s: float) -> str | None:
    """The message when the definition cannot fit under ``limit_s``, else None."""
    total, arithmetic = run_budget(definition)
    if total <= limit_s:
        return None
    return (
        f"worst case {arithmetic}, over ACTIVITY_TIMEOUT_SECONDS={limit_s:g}; "
        "lower the resolvers' timeout_seconds or tries"
    )
