"""Task queues, timeouts and retry policies: every tuning knob in one place."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

ORCHESTRATOR_TQ = "orchestrator-tq"
"""Task queue of all workflows."""
TASK_EXECUTION_TQ = "task-execution-tq"
"""Task queue of all activities."""
WATCHDOG_TQ = "watchdog-tq"
"""Task queue of the missed-fire watchdog (its workflows and activities alike)."""
WATCHDOG_SCHEDULE_ID = "activity-core-watchdog"
"""Schedule that starts a watchdog pass every ``ACTCORE_WATCHDOG_INTERVAL_SECONDS``."""

SCHEDULE_ID_PREFIX = "activity-schedule-"
"""Schedule id of a definition: ``activity-schedule-<definition id>``."""
DELIVERY_ID_PREFIX = "delivery-"
"""Delivery workflow id: ``delivery-<run id>-<sink>``."""

# Activity timeouts ---------------------------------------------------------------
LOAD_DEFINITION_TIMEOUT = timedelta(seconds=30)
PERSIST_NOTE_TIMEOUT = timedelta(seconds=30)
ALERT_NOTE_TIMEOUT = timedelta(seconds=30)
PLAN_FIRE_TIMEOUT = timedelta(seconds=30)
HANDLER_BUDGET_S = {"activity_digest": 60.0, "static_report": 10.0, "wsjf_triage": 30.0}
"""Start-to-close seconds per handler (also used by the timeout budget check)."""

# Retry policies ------------------------------------------------------------------
LOCAL_IO_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=["DefinitionNotFound", "DefinitionInvalid", "UnknownHandler"],
)
"""Local file work: retried a while (a full disk may be freed), then the run fails loudly."""

HANDLER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
    non_retryable_error_types=["UnknownHandler", "HandlerInputInvalid"],
)

RESOLVER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
    non_retryable_error_types=["ResolverRejected"],
)
"""Temporal-level retries of a resolver, above the tries inside each attempt."""
RESOLVER_RETRY_WAITS_S = 5 + 10
"""Sum of the waits between RESOLVER_RETRY's attempts (for the timeout budget)."""

DELIVERY_ATTEMPT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
)
"""Only covers a worker crash mid-attempt; sink failures are classified, not raised."""

# Delivery client (inside one attempt) ---------------------------------------------
SINK_RESET_RETRIES = 3
"""Quick in-attempt retries for a connection reset mid-request (bounded to a few seconds)."""
