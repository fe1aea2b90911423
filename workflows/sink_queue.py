"""Delivery attempts on the sink's own task queue: every worker polls it with the sink's
pace as the server-side rate limit, so a recovering sink sees one pace however many
workers there are. An attempt no worker picks up within the policy's
``queue_wait_seconds`` (a sink no definition names any more) is made on the general
activity queue instead."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from activity_core.domain import DeliverySink
    from activity_core.domain.constants import SINK_QUEUE_PATCH
    from activity_core.domain.report import sink_task_queue

R = TypeVar("R")


async def attempt_on_sink_queue(
    method: Callable[[Any, Any], Awaitable[R]],
    arg: Any,
    *,
    sink: DeliverySink,
    fallback_queue: str,
    attempt_timeout: timedelta,
    queue_wait: timedelta,
    retry_policy: RetryPolicy,
    summary: str,
) -> R:
    """Run one attempt activity, on the sink's queue for executions that have the patch.

    Raises:
        ActivityError: The attempt failed in the worker (as before).
    """
    if workflow.patched(SINK_QUEUE_PATCH):
        queue = sink_task_queue(sink, fallback_queue)
        try:
            return await workflow.execute_activity_method(
                method,
                arg,
                task_queue=queue,
                schedule_to_start_timeout=queue_wait,
                start_to_close_timeout=attempt_timeout,
                retry_policy=retry_policy,
                summary=summary,
            )
        except ActivityError as exc:
            cause = exc.cause
            if not (
                isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START
            ):
                raise
            workflow.logger.warning(
                "no worker polls %s (restart the workers after adding a sink); the attempt "
                "runs on %s, paced by each worker only",
                queue,
                fallback_queue,
            )
    return await workflow.execute_activity_method(
        method,
        arg,
        task_queue=fallback_queue,
        start_to_close_timeout=attempt_timeout,
        retry_policy=retry_policy,
        summary=summary,
    )
