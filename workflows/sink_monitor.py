"""SinkMonitorWorkflow: one per sink while deliveries wait on it.

Deliveries register when they start waiting (signal-with-start) and sign off when they
leave waiting. The monitor probes the sink's health on a backoff; when the sink comes
back (a down-to-up transition) it wakes the waiting deliveries oldest first at a paced
rate, so recovery takes seconds instead of the next backoff step and does not stampede
the sink. It completes when nothing waits.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.monitor import MonitorActivities
    from activity_core.domain import DeliverySink, MonitorInput, WakeInput
    from activity_core.domain.constants import (
        MONITOR_KNOWN_STATE_PATCH,
        MONITOR_PROBE_LAG,
        MONITOR_SETTLE,
        MONITOR_TRANSITION_PATCH,
        SINK_PROBE_RETRY,
        SINK_PROBE_TIMEOUT,
        TASK_EXECUTION_TQ,
        WAKE_HEARTBEAT_TIMEOUT,
        WAKE_RETRY,
        wake_timeout,
    )
    from activity_core.domain.delivery import signal_time


@workflow.defn(name="SinkMonitorWorkflow")
class SinkMonitorWorkflow:
    """Probe a sink while deliveries wait on it; wake them, paced, when it is back."""

    @workflow.init
    def __init__(self, inp: MonitorInput) -> None:
        """Restore the waiting set (continue-as-new) or start empty."""
        self._inp = inp
        self._waiting: dict[str, datetime] = dict(inp.waiting)
        self._not_before: dict[str, datetime] = dict(inp.not_before)
        self._woken = 0
        # When the monitor last heard the sink fail: its start (a delivery registering after
        # a failed attempt), then each registration arriving after its first task.
        self._first_task = workflow.now()
        self._failure_heard = workflow.info().workflow_start_time

    @workflow.signal(name="delivery_waiting")
    def delivery_waiting(
        self, delivery_id: str, since: datetime, not_before: datetime | None = None
    ) -> None:
        """A delivery started waiting on this sink (not to be woken before ``not_before``,
        the sink's ``Retry-After``)."""
        try:
            # Sent without ``not_before``, the times arrive as text: one type for all.
            when = signal_time(since)
            until = None if not_before is None else signal_time(not_before)
        except ValueError as err:
            workflow.logger.warning("delivery_waiting for %s ignored: %s", delivery_id, err)
            return
        self._waiting.setdefault(delivery_id, when)
        if workflow.now() > self._first_task:
            self._failure_heard = max(self._failure_heard, workflow.now())
        if until is not None:
            self._not_before[delivery_id] = until

    @workflow.signal(name="delivery_done")
    def delivery_done(self, delivery_id: str) -> None:
        """A delivery left waiting (delivered, dead or given up)."""
        self._waiting.pop(delivery_id, None)
        self._not_before.pop(delivery_id, None)

    @workflow.query
    def waiting(self) -> list[str]:
        """Deliveries waiting on the sink, oldest first."""
        return sorted(self._waiting, key=lambda d: (self._waiting[d], d))

    @workflow.run
    async def run(self, inp: MonitorInput) -> int:
        """Loop until nothing waits; return how many wake-ups were sent."""
        atq = inp.activity_task_queue or TASK_EXECUTION_TQ
        backoff = inp.probe_backoff_seconds
        failures = 0
        # Old executions assumed the sink down at start, so their first healthy probe woke
        # everyone at once (even inside a Retry-After). Now the monitor must see the sink
        # down itself before an answer counts as a recovery (None: not seen yet).
        real_transition = workflow.patched(MONITOR_TRANSITION_PATCH)
        # Newer executions carry what they knew of the sink over continue-as-new, measure a
        # late start from their own start and test an unseen recovery on one delivery.
        known_state = real_transition and workflow.patched(MONITOR_KNOWN_STATE_PATCH)
        sink_up: bool | None = None if real_transition else False
        if known_state:
            sink_up = inp.sink_up
        while self._waiting:
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                carried: dict[str, object] = {
                    "waiting": dict(self._waiting),
                    "not_before": self._not_before,
                }
                if known_state:
                    carried["sink_up"] = sink_up
                workflow.continue_as_new(inp.model_copy(update=carried))
            healthy = await self._probe(inp.sink, atq)
            if healthy and sink_up is None and self._waiting:
                # The first probe answers. Right after the failure that started the monitor,
                # that means the health check answers while posts fail (no recovery: their
                # own timers go on). Long after it, the monitor started late (a busy worker)
                # and may have missed the outage.
                if known_state:
                    sink_up = True
                    if workflow.now() - self._failure_heard > MONITOR_PROBE_LAG:
                        await self._test_recovery(atq)
                        continue
                elif workflow.now() - min(self._waiting.values()) > MONITOR_PROBE_LAG:
                    sink_up = False
            if healthy and sink_up is False:
                sink_up, failures = True, 0
                await self._wake(atq, real_transition)
                await self._pause(MONITOR_SETTLE, "let woken deliveries report back")
                continue
            sink_up = healthy
            wait = backoff[min(failures, len(backoff) - 1)]
            failures += 1
            workflow.set_current_details(
                f"sink `{inp.sink.name}` {'up' if healthy else 'down'}; "
                f"{len(self._waiting)} deliveries waiting; next probe in {wait:g} s"
            )
            await self._pause(timedelta(seconds=wait), f"next probe of {inp.sink.name}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._woken

    async def _pause(self, duration: timedelta, summary: str) -> None:
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: not self._waiting, timeout=duration, timeout_summary=summary
            )

    async def _probe(self, sink: DeliverySink, atq: str) -> bool:
        try:
            healthy: bool = await workflow.execute_activity_method(
                MonitorActivities.probe_sink,
                sink,
                task_queue=atq,
                start_to_close_timeout=SINK_PROBE_TIMEOUT,
                retry_policy=SINK_PROBE_RETRY,
                summary=f"probe {sink.name}",
            )
        except ActivityError:
            return False
        return healthy

    def _ready(self) -> list[str]:
        """Waiting deliveries, oldest first, except those inside the sink's Retry-After
        (they keep their own timer)."""
        now = workflow.now()
        return [d for d in self.waiting() if self._not_before.get(d, now) <= now]

    async def _test_recovery(self, atq: str) -> None:
        """A recovery the monitor did not see happen: wake the oldest delivery alone, and
        the rest only if it got through (a sink whose health check answers while its posts
        fail costs one post, not a stampede)."""
        ready = self._ready()
        if not ready:
            return
        canary = ready[0]
        await self._wake(atq, True, only=[canary])
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: canary not in self._waiting,
                timeout=MONITOR_SETTLE,
                timeout_summary=f"see whether {canary} got through",
            )
        if canary in self._waiting or not self._waiting:
            return
        await self._wake(atq, True)
        await self._pause(MONITOR_SETTLE, "let woken deliveries report back")

    async def _wake(
        self, atq: str, honour_retry_after: bool = False, only: list[str] | None = None
    ) -> None:
        ids = only if only is not None else self.waiting()
        if honour_retry_after:
            ids = [d for d in ids if d in self._ready()]
            if not ids:
                return
        workflow.set_current_details(
            f"sink `{self._inp.sink.name}` is back: waking {len(ids)} deliveries, oldest first"
        )
        try:
            woken: int = await workflow.execute_activity_method(
                MonitorActivities.wake_deliveries,
                WakeInput(delivery_ids=ids, rate_per_second=self._inp.sink.pace_per_second),
                task_queue=atq,
                start_to_close_timeout=wake_timeout(len(ids)),
                heartbeat_timeout=WAKE_HEARTBEAT_TIMEOUT,
                retry_policy=WAKE_RETRY,
                summary=f"wake {len(ids)} deliveries",
            )
        except ActivityError as exc:
            workflow.logger.warning("waking deliveries failed: %s", exc.cause or exc)
            return
        self._woken += woken
