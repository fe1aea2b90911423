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

    @workflow.signal(name="delivery_waiting")
    def delivery_waiting(
        self, delivery_id: str, since: datetime, not_before: datetime | None = None
    ) -> None:
        """A delivery started waiting on this sink (not to be woken before ``not_before``,
        the sink's ``Retry-After``)."""
        self._waiting.setdefault(delivery_id, since)
        if not_before is not None:
            self._not_before[delivery_id] = not_before

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
        sink_up: bool | None = None if real_transition else False
        while self._waiting:
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    inp.model_copy(
                        update={"waiting": dict(self._waiting), "not_before": self._not_before}
                    )
                )
            healthy = await self._probe(inp.sink, atq)
            if healthy and sink_up is None and self._waiting:
                # The first probe answers. Right after the failures that registered the
                # deliveries, that means the health check answers while posts fail (no
                # recovery: their own timers go on). Long after them, the monitor started
                # late (a busy worker) and missed the outage: treat it as the recovery.
                lag = workflow.now() - min(self._waiting.values())
                if lag > MONITOR_PROBE_LAG:
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

    async def _wake(self, atq: str, honour_retry_after: bool = False) -> None:
        ids = self.waiting()
        if honour_retry_after:
            # A delivery the sink told to come back later keeps its own timer.
            now = workflow.now()
            ids = [d for d in ids if self._not_before.get(d, now) <= now]
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
