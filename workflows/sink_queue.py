"""Delivery attempts on the sink's own task queue: every worker polls it with the sink's
pace as the server-side rate limit, so a recovering sink sees one pace however many
workers there are. An attempt no worker picks up within the policy's
``queue_wait_seconds`` (a sink no definition names any more) is made on the general
activity queue instead."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from activity_core.domain import (
        DeliveryAttemptInput,
        DeliveryAttemptResult,
        DeliverySink,
        FileTasksInput,
    )
    from activity_core.domain.constants import (
        ATTEMPT_FAILED,
        ATTEMPT_FAILS_PATCH,
        SINK_QUEUE_PATCH,
    )
    from activity_core.domain.report import sink_task_queue


async def attempt_on_sink_queue(
    method: Callable[[Any, Any], Awaitable[DeliveryAttemptResult]],
    arg: DeliveryAttemptInput | FileTasksInput,
    *,
    sink: DeliverySink,
    fallback_queue: str,
    attempt_timeout: timedelta,
    queue_wait: timedelta,
    retry_policy: RetryPolicy,
    summary: str,
) -> DeliveryAttemptResult:
    """Run one attempt activity, on the sink's queue for executions that have the patch.

    In executions with the patch ``failed-attempts-fail`` a failed attempt fails its
    activity (non-retryable, the result in its details), so the Web UI shows it failed;
    it is read back into the same result.

    Raises:
        ActivityError: The attempt failed in the worker (as before).
    """
    if workflow.patched(ATTEMPT_FAILS_PATCH):
        arg = arg.model_copy(update={"fail_visibly": True})
    if workflow.patched(SINK_QUEUE_PATCH):
        queue = sink_task_queue(sink, fallback_queue)
        try:
            return await _attempt(
                method, arg, queue, attempt_timeout, retry_policy, summary, queue_wait
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
    return await _attempt(method, arg, fallback_queue, attempt_timeout, retry_policy, summary)


async def _attempt(
    method: Callable[[Any, Any], Awaitable[DeliveryAttemptResult]],
    arg: DeliveryAttemptInput | FileTasksInput,
    queue: str,
    attempt_timeout: timedelta,
    retry_policy: RetryPolicy,
    summary: str,
    queue_wait: timedelta | None = None,
) -> DeliveryAttemptResult:
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
        if isinstance(cause, ApplicationError) and cause.type == ATTEMPT_FAILED and cause.details:
            return DeliveryAttemptResult.model_validate(cause.details[0])
        raise
