"""Task queues, workflow type names, timeouts and retry policies: every tuning knob in
one place. Pure; imported by workflow code."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from activity_core.errors import (
    DEFINITION_INVALID,
    DEFINITION_NOT_FOUND,
    HANDLER_INPUT_INVALID,
    RESOLVER_REJECTED,
    UNKNOWN_HANDLER,
)

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
ALERT_DELIVERY_PREFIX = f"{DELIVERY_ID_PREFIX}alert-"
"""Delivery of a watchdog alert (its "run id" is the alert id, ``alert-...``; runs are
``activity-run-...``)."""

LEDGER_PATCH = "ledger-records"
NOTE_DEFERRED_PATCH = "note-failure-keeps-deliveries"
"""Runs whose note cannot be written still hand the report to their remote sinks, then
retry the note on a durable timer (histories before it fail the run instead)."""
TASK_EMISSION_PATCH = "task-emission"
"""Runs whose report carries tasks record them in the ledger and hand them to their issue
sinks (reports of older histories carry none)."""
LOCAL_STEPS_PATCH = "definition-and-fire-plan-local"
"""Loading the definition and the misfire guard's fire plan run as local activities (no
task-queue round trip each); histories before it ran them as activities."""
ATTEMPT_FAILS_PATCH = "failed-attempts-fail"
"""A failed delivery or filing attempt fails its activity (non-retryable, the result in
its details) so the Web UI shows it failed; older histories completed it with the
failure in the result."""
ATTEMPT_FAILED = "DeliveryAttemptFailed"
"""Error type of such a failed attempt (the workflow reads the result back from it)."""
HANDLER_NOTE_PATCH = "handler-writes-its-note"
"""The handler's activity writes the note as soon as the report exists (one task-queue
round trip for both); histories before it ran ``persist_note`` as an activity of its own,
which stays the path when that write fails."""
RESOLVERS_PARALLEL_PATCH = "resolvers-in-parallel"
"""A run's resolvers start together, and once a required one has given up the others are
cancelled (its "could not run" note follows at once); older histories ran them one after
another."""
NOTE_RETRY_FIRST = timedelta(seconds=60)
"""First wait before retrying a note that could not be written; doubles up to the cap."""
NOTE_RETRY_CAP = timedelta(hours=1)
"""``workflow.patched`` id of the ledger writes in runs and deliveries."""

# Registered workflow types (referenced by name where importing the class would climb a floor)
ACTIVITY_RUN_WORKFLOW = "ActivityRunWorkflow"
REPORT_DELIVERY_WORKFLOW = "ReportDeliveryWorkflow"
SINK_MONITOR_WORKFLOW = "SinkMonitorWorkflow"
WATCHDOG_WORKFLOW = "MissedFireWatchdogWorkflow"
BACKFILL_WORKFLOW = "BackfillWorkflow"
RECOVER_WORKFLOW = "DeliveryRecoverWorkflow"

# Activity timeouts ---------------------------------------------------------------
LOAD_DEFINITION_TIMEOUT = timedelta(seconds=30)
PERSIST_NOTE_TIMEOUT = timedelta(seconds=30)
ALERT_NOTE_TIMEOUT = timedelta(seconds=30)
PLAN_FIRE_TIMEOUT = timedelta(seconds=30)
HANDLER_BUDGET_S = {"activity_digest": 60.0, "static_report": 10.0, "wsjf_triage": 30.0}
"""Start-to-close seconds per handler (also used by the timeout budget check)."""
HANDLER_NAMES = frozenset(HANDLER_BUDGET_S)
"""Handlers a definition may name; the worker checks its registry against this at start."""
WATCHDOG_OBSERVE_TIMEOUT = timedelta(minutes=4)
WATCHDOG_OBSERVE_HEARTBEAT = timedelta(seconds=20)
"""An observe attempt silent this long is retried: a pass whose worker or server went away
mid-pass resumes in seconds, not after the whole start-to-close timeout."""
WATCHDOG_HEARTBEAT_EVERY_S = 5.0
"""How often a running observe attempt heartbeats."""
WATCHDOG_PING_TIMEOUT = timedelta(seconds=15)
SINK_PROBE_TIMEOUT = timedelta(seconds=15)
SINK_REGISTER_TIMEOUT = timedelta(seconds=30)
MONITOR_TRANSITION_PATCH = "monitor-wakes-on-real-recovery"
"""Monitors wake deliveries only after they saw the sink down and then up, never before a
delivery's Retry-After (histories before it woke on the first healthy probe)."""
MONITOR_KNOWN_STATE_PATCH = "monitor-carries-sink-state"
"""Monitors carry the sink's state over continue-as-new, measure a late start from their
own start (not from the oldest delivery) and test an unseen recovery on one delivery first
(histories before it woke everyone when a restarted monitor's first probe answered)."""
MONITOR_PROBE_LAG = timedelta(seconds=10)
"""A first probe this long after the monitor last heard of a failure may have missed the
outage: if it answers, the monitor tests the recovery on the oldest delivery."""
MONITOR_SETTLE = timedelta(seconds=30)
"""After waking deliveries, the monitor waits this long for them to report back."""
WAKE_HEARTBEAT_TIMEOUT = timedelta(seconds=30)


def wake_timeout(deliveries: int) -> timedelta:
    """Start-to-close of one paced wake-up of ``deliveries`` (a minute plus one second each)."""
    return timedelta(seconds=60 + deliveries)


LEDGER_WRITE_TIMEOUT = timedelta(seconds=15)
"""Start-to-close of a ledger write (a local activity that bounds itself well below it)."""

# Retry policies ------------------------------------------------------------------
LOCAL_IO_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=[DEFINITION_NOT_FOUND, DEFINITION_INVALID, UNKNOWN_HANDLER],
)
"""Local file work: retried a while (a full disk may be freed), then the run fails loudly."""

HANDLER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
    non_retryable_error_types=[UNKNOWN_HANDLER, HANDLER_INPUT_INVALID],
)

RESOLVER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
    non_retryable_error_types=[RESOLVER_REJECTED],
)
"""Temporal-level retries of a resolver, above the tries inside each attempt."""
RESOLVER_RETRY_WAITS_S = 5 + 10
"""Sum of the waits between RESOLVER_RETRY's attempts (for the timeout budget)."""

LEDGER_WRITE_RETRY = RetryPolicy(maximum_attempts=1)
"""The write retries inside itself and never raises; a crash is not retried by Temporal."""

SINK_QUEUE_PATCH = "attempts-on-the-sink-queue"
"""Delivery attempts run on the sink's own task queue (its shared pace); histories before
it ran them on the run's activity queue."""

DELIVERY_ATTEMPT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
)
"""Only covers a worker crash mid-attempt; sink failures are classified, not raised."""

# Delivery client (inside one attempt) ---------------------------------------------
SINK_RESET_RETRIES = 3
"""Quick in-attempt retries for a connection reset mid-request (bounded to a few seconds)."""

WATCHDOG_OBSERVE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(seconds=20),
    maximum_attempts=3,
    non_retryable_error_types=[DEFINITION_INVALID],
)
"""A pass whose definitions are invalid fails at once, visibly, and skips its ping."""
WATCHDOG_PING_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=3)
SINK_PROBE_RETRY = RetryPolicy(maximum_attempts=2)
WAKE_RETRY = RetryPolicy(maximum_attempts=3)

POLLER_SEEN_WITHIN = timedelta(seconds=75)
"""A task queue poller the server saw this recently still counts (an idle long poll lasts
about a minute); one that stopped still counts this long after."""
