"""ReportDeliveryWorkflow: the durable outbox entry for one report and one remote sink.

It attempts delivery, waits on durable timers between attempts (waking early on
``retry_now``), parks as ``dead`` on a permanent failure or when the retry horizon is
exhausted (still accepting ``retry_now``), and continues-as-new when its history grows.
It never gives up on its own and never fails because the sink is down."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.delivery import SinkActivities
    from activities.ledger import LedgerActivities
    from activities.monitor import MonitorActivities
    from activities.run import RunActivities
    from activity_core.domain import (
        AlertNoteInput,
        AttemptOutcome,
        DeliveryAttemptInput,
        DeliveryAttemptResult,
        DeliveryInput,
        DeliveryProgress,
        DeliveryRecord,
        DeliveryState,
        DeliveryStatus,
        IssueSink,
        MonitorInput,
        RegisterWaitingInput,
        StateHubProgressSink,
        WebhookSink,
    )
    from activity_core.domain import search_attributes as sa
    from activity_core.domain.constants import (
        ALERT_NOTE_TIMEOUT,
        DELIVERY_ATTEMPT_RETRY,
        LOCAL_IO_RETRY,
        SINK_REGISTER_TIMEOUT,
        TASK_EXECUTION_TQ,
    )
    from activity_core.domain.delivery import fire_of
    from activity_core.domain.report import monitor_id
    from workflows.ledger import write_ledger
    from workflows.sink_queue import attempt_on_sink_queue
    from workflows.task_filing import TaskFiler

MIN_WAIT_S = 1.0
HISTORY_EVENT_BUDGET = 800
"""Continue-as-new once an execution has this many events (after a wait is set up)."""
SINK_MONITOR_PATCH = "sink-monitor-registration"


def _hhmm(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else "-"


@workflow.defn(name="ReportDeliveryWorkflow")
class ReportDeliveryWorkflow:
    """Deliver one report to one sink, however long the sink is away."""

    @workflow.init
    def __init__(self, inp: DeliveryInput) -> None:
        """Restore carried progress (continue-as-new) or start fresh."""
        self._inp = inp
        self._p = inp.carried.model_copy() if inp.carried else DeliveryProgress()
        self._published_state: DeliveryState | None = None
        self._recorded_state: DeliveryState | None = None
        self._recorded_done: int | None = None
        # An issue sink files the run's tasks one by one (new executions only: an issue
        # sink never appears in a history recorded before it existed).
        self._filer = TaskFiler(inp, self._p) if isinstance(inp.sink, IssueSink) else None

    # -- messages ------------------------------------------------------------------

    @workflow.signal
    def retry_now(self, recovered_by: str | None = None) -> None:
        """Attempt delivery now (also revives a ``dead`` delivery); ``recovered_by``: a
        recover woke it, whose one summary note reports it (no note of its own)."""
        self._p.retry_requested, self._p.recovered_by = True, recovered_by

    @workflow.signal
    def give_up(self) -> None:
        """Stop for good: the delivery ends as ``given_up``."""
        self._p.give_up_requested = True

    @workflow.query
    def status(self) -> DeliveryStatus:
        """Current state, attempts, last error and next attempt time."""
        p = self._p
        return DeliveryStatus(
            run_id=self._inp.run_id,
            sink=self._inp.sink.name,
            state=p.state,
            attempts=p.attempts,
            last_error=p.last_error,
            next_attempt_at=p.next_attempt_at,
            delivered_at=p.delivered_at,
            items_total=self._filer.total if self._filer else None,
            items_done=self._filer.done if self._filer else None,
        )

    # -- main loop -----------------------------------------------------------------

    @workflow.run
    async def run(self, inp: DeliveryInput) -> DeliveryStatus:
        """Loop until delivered or deliberately given up."""
        p = self._p
        if p.episode_started_at is None:
            p.episode_started_at = workflow.now()
        self._publish()
        await self._record()
        while True:
            if p.give_up_requested:
                await self._sign_off_monitor()
                return await self._finish(DeliveryState.GIVEN_UP)
            if p.state == DeliveryState.DEAD:
                await workflow.wait_condition(lambda: p.retry_requested or p.give_up_requested)
                if p.give_up_requested:
                    continue
                # retry_now on a dead delivery starts a new episode with a fresh horizon.
                p.episode_started_at = workflow.now()
                p.episode_failures = 0
            elif p.state == DeliveryState.WAITING and not p.retry_requested:
                await self._wait_until_due()
                if p.give_up_requested:
                    continue
            p.retry_requested, recovered, p.recovered_by = False, p.recovered_by, None
            result = await self._attempt()
            if result.outcome in (AttemptOutcome.DELIVERED, AttemptOutcome.DUPLICATE):
                p.delivered_at = workflow.now()
                await self._sign_off_monitor()
                return await self._finish(DeliveryState.DELIVERED)
            p.episode_failures += 1
            if result.outcome == AttemptOutcome.PERMANENT:
                await self._go_dead("permanent failure: the sink rejected the report", recovered)
                continue
            assert p.episode_started_at is not None
            elapsed = (workflow.now() - p.episode_started_at).total_seconds()
            horizon = inp.policy.horizon_seconds
            if elapsed >= horizon:
                await self._go_dead(f"retry horizon of {timedelta(seconds=horizon)} exhausted")
                continue
            delay = self._next_delay(result, horizon - elapsed)
            p.not_before = (
                workflow.now() + timedelta(seconds=result.retry_after_seconds)
                if result.retry_after_seconds
                else None
            )
            p.state = DeliveryState.WAITING
            p.next_attempt_at = workflow.now() + timedelta(seconds=delay)
            self._publish()
            await self._record()
            await self._register_with_monitor()
            if workflow.info().is_continue_as_new_suggested() or self._over_event_budget():
                await workflow.wait_condition(workflow.all_handlers_finished)
                p.continued += 1
                workflow.continue_as_new(inp.model_copy(update={"carried": p}))

    def _over_event_budget(self) -> bool:
        """Own bound on events per execution, below the server's suggestion (4 Ki events).

        The patch marker keeps executions recorded before this bound replaying as they
        ran; it is only consulted once the bound is reached.
        """
        return workflow.info().get_current_history_length() >= HISTORY_EVENT_BUDGET and (
            workflow.patched("history-event-budget")
        )

    # -- steps ---------------------------------------------------------------------

    def _next_delay(self, result: DeliveryAttemptResult, remaining: float) -> float:
        policy = self._inp.policy
        base = policy.base_delay(self._p.episode_failures)
        jitter = 1.0 + policy.jitter_ratio * (2.0 * workflow.random().random() - 1.0)
        delay = base * jitter
        if result.retry_after_seconds is not None and result.retry_after_seconds > delay:
            delay = result.retry_after_seconds
        # The last attempt of an episode happens at the horizon, not past it.
        return max(MIN_WAIT_S, min(delay, remaining))

    async def _wait_until_due(self) -> None:
        p = self._p
        if p.next_attempt_at is None:
            return
        remaining = (p.next_attempt_at - workflow.now()).total_seconds()
        if remaining <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: p.retry_requested or p.give_up_requested,
                timeout=timedelta(seconds=remaining),
                timeout_summary=f"next attempt {p.attempts + 1} to {self._inp.sink.name}",
            )

    async def _attempt(self) -> DeliveryAttemptResult:
        p = self._p
        p.attempts += 1
        p.next_attempt_at = None
        if self._filer is not None:
            result = await self._filer.attempt(self._inp.policy.attempt_timeout_seconds)
            return self._count(result)
        sink, event = self._inp.sink, self._inp.event
        assert isinstance(sink, StateHubProgressSink | WebhookSink) and event is not None
        workflow.set_current_details(
            f"**attempting** delivery to `{sink.name}`: attempt {p.attempts}"
        )
        try:
            result = await attempt_on_sink_queue(
                SinkActivities.deliver,
                DeliveryAttemptInput(
                    sink=sink,
                    event=event,
                    idempotency_key=self._inp.idempotency_key,
                    attempt=p.attempts,
                ),
                sink=sink,
                fallback_queue=self._inp.activity_task_queue or TASK_EXECUTION_TQ,
                attempt_timeout=timedelta(seconds=self._inp.policy.attempt_timeout_seconds),
                queue_wait=timedelta(seconds=self._inp.policy.queue_wait_seconds),
                retry_policy=DELIVERY_ATTEMPT_RETRY,
                summary=f"deliver to {sink.name} (attempt {p.attempts})",
            )
        except ActivityError as exc:
            cause = exc.cause or exc
            result = DeliveryAttemptResult(
                outcome=AttemptOutcome.TRANSIENT, error=f"attempt failed in the worker: {cause}"
            )
        return self._count(result)

    def _count(self, result: DeliveryAttemptResult) -> DeliveryAttemptResult:
        p = self._p
        p.last_error = result.error
        p.last_status_code = result.status_code
        workflow.metric_meter().create_counter(
            "activity_core_delivery_attempts", "Delivery attempts by sink and result"
        ).add(1, {"sink": self._inp.sink.name, "result": result.outcome.value})
        return result

    async def _go_dead(self, why: str, recovered: str | None = None) -> None:
        p = self._p
        inp = self._inp
        p.state = DeliveryState.DEAD
        p.next_attempt_at = None
        self._publish(why)
        await self._record()
        await self._sign_off_monitor()
        workflow.logger.error(
            "delivery dead: %s", why, extra={"run_id": inp.run_id, "sink": inp.sink.name}
        )
        if recovered is not None:
            return  # the recover that woke it writes one summary note for all it woke
        assert p.episode_started_at is not None
        try:
            await workflow.execute_activity_method(
                RunActivities.write_alert_note,
                AlertNoteInput(
                    kind="delivery_dead",
                    run_id=inp.run_id,
                    activity_id=inp.activity_id,
                    activity_name=inp.activity_name,
                    key=f"delivery_dead:{inp.run_id}:{inp.sink.name}:{p.episode_started_at.isoformat()}",
                    title=(
                        f"Tasks of {inp.activity_name} not filed at {inp.sink.name} "
                        f"({self._filer.progress_text()})"
                        if self._filer
                        else f"Report of {inp.activity_name} not delivered to {inp.sink.name}"
                    ),
                    body=(
                        f"Delivery `{workflow.info().workflow_id}` is **dead**: {why}.\n\n"
                        f"- run: `{inp.run_id}`\n- sink: `{inp.sink.name}` ({inp.sink.type})\n"
                        f"- attempts: {p.attempts}\n- last error: {p.last_error}\n"
                        + (f"{self._filer.dead_body()}\n" if self._filer else "")
                        + f"- the report itself is safe in `{inp.note_path}`\n\n"
                        "Fix the sink, then wake the delivery (from anywhere `actcore` "
                        "reaches this Temporal):\n\n"
                        f"    actcore deliveries retry {workflow.info().workflow_id}\n\n"
                        "or with the Temporal CLI (add your `--address` and `--namespace`): "
                        f"`temporal workflow signal --workflow-id {workflow.info().workflow_id}"
                        " --name retry_now`\n"
                    ),
                ),
                task_queue=inp.activity_task_queue or TASK_EXECUTION_TQ,
                start_to_close_timeout=ALERT_NOTE_TIMEOUT,
                retry_policy=LOCAL_IO_RETRY,
                summary="alert note delivery_dead",
            )
        except ActivityError as exc:
            workflow.logger.error("could not write the alert note: %s", exc.cause or exc)

    async def _finish(self, state: DeliveryState) -> DeliveryStatus:
        self._p.state = state
        self._p.next_attempt_at = None
        self._publish()
        await self._record()
        return self.status()

    async def _record(self) -> None:
        """Write the delivery's ledger row on each state change (never fails the delivery;
        deliveries recorded before the ledger existed replay without these writes)."""
        p = self._p
        done = self._filer.done if self._filer else None
        if self._recorded_state == p.state and self._recorded_done == done:
            return
        self._recorded_state = p.state
        self._recorded_done = done
        inp = self._inp
        record = DeliveryRecord(
            workflow_id=workflow.info().workflow_id,
            run_id=inp.run_id,
            activity_id=inp.activity_id,
            activity_name=inp.activity_name,
            sink=inp.sink.name,
            state=p.state.value,
            attempts=p.attempts,
            last_error=p.last_error,
            delivered_at=p.delivered_at,
            updated_at=workflow.now(),
            items_total=self._filer.total if self._filer else None,
            items_done=done,
        )
        await write_ledger(
            LedgerActivities.record_delivery, record, f"ledger: delivery {p.state.value}"
        )

    async def _register_with_monitor(self) -> None:
        """Tell the sink's recovery monitor this delivery waits (once per wait)."""
        p = self._p
        if p.monitor_registered or not workflow.patched(SINK_MONITOR_PATCH):
            return
        inp = self._inp
        try:
            await workflow.execute_activity_method(
                MonitorActivities.register_waiting,
                RegisterWaitingInput(
                    monitor_id=monitor_id(inp.sink),
                    delivery_id=workflow.info().workflow_id,
                    workflow_task_queue=workflow.info().task_queue,
                    since=p.episode_started_at or workflow.now(),
                    not_before=p.not_before,
                    monitor=MonitorInput(
                        sink=inp.sink, activity_task_queue=inp.activity_task_queue
                    ),
                ),
                task_queue=inp.activity_task_queue or TASK_EXECUTION_TQ,
                start_to_close_timeout=SINK_REGISTER_TIMEOUT,
                retry_policy=LOCAL_IO_RETRY,
                summary=f"register with the {inp.sink.name} recovery monitor",
            )
            p.monitor_registered = True
        except ActivityError as exc:
            # The delivery's own timers still work without the monitor.
            workflow.logger.warning("could not register with the sink monitor: %s", exc.cause)

    async def _sign_off_monitor(self) -> None:
        """Leave the monitor's waiting set (delivered, dead or given up)."""
        p = self._p
        if not p.monitor_registered:
            return
        p.monitor_registered = False
        # The monitor may have finished already; that is fine.
        with contextlib.suppress(ApplicationError):
            await workflow.get_external_workflow_handle(monitor_id(self._inp.sink)).signal(
                "delivery_done", workflow.info().workflow_id
            )

    # -- visibility ----------------------------------------------------------------

    def _publish(self, why: str | None = None) -> None:
        """Update search attributes (on state changes) and the UI's current details."""
        p = self._p
        inp = self._inp
        if self._published_state != p.state:
            meter = workflow.metric_meter()
            labels = {"sink": inp.sink.name, "state": p.state.value}
            meter.create_counter(
                "activity_core_delivery_transitions", "Deliveries entering a state"
            ).add(1, labels)
            if p.state in (DeliveryState.DELIVERED, DeliveryState.DEAD, DeliveryState.GIVEN_UP):
                # From the hand-over (the first execution of a continued chain) to the end.
                started = workflow.info().workflow_start_time or workflow.info().start_time
                meter.create_histogram_timedelta(
                    "activity_core_delivery_duration", "From hand-over to delivered/dead", "s"
                ).record(workflow.now() - started, labels)
            fire = fire_of(inp.event)
            if p.state == DeliveryState.DELIVERED and fire is not None:
                # The service level: from the nominal fire to the report at this sink.
                meter.create_histogram_timedelta(
                    "activity_core_fire_to_delivered",
                    "From a run's nominal fire to its report delivered at a sink",
                    "s",
                ).record(
                    max(workflow.now() - fire, timedelta(0)),
                    {"definition": inp.activity_name, "sink": inp.sink.name},
                )
            updates: list[SearchAttributeUpdate[str]] = [
                sa.DELIVERY_STATUS.value_set(p.state.value)
            ]
            if self._published_state is None:
                updates += [
                    sa.DELIVERY_SINK.value_set(inp.sink.name),
                    sa.ACTIVITY_ID.value_set(inp.activity_id),
                    sa.ACTIVITY_NAME.value_set(inp.activity_name),
                ]
            workflow.upsert_search_attributes(updates)
            self._published_state = p.state
        sink = f"`{inp.sink.name}`"
        if self._filer is not None:
            sink += f" ({self._filer.progress_text()})"
        if p.state == DeliveryState.WAITING:
            text = (
                f"**waiting**: attempt {p.attempts} to {sink} failed ({p.last_error}); "
                f"next attempt {_hhmm(p.next_attempt_at)}; signal `retry_now` to try now"
            )
        elif p.state == DeliveryState.DEAD:
            text = (
                f"**dead**: {why or 'parked'}; {p.attempts} attempts, last error: {p.last_error}. "
                "Fix the sink, then signal `retry_now` (or `give_up` to end)"
            )
        elif p.state == DeliveryState.DELIVERED:
            text = (
                f"**delivered** to {sink} at {_hhmm(p.delivered_at)} after {p.attempts} attempt(s)"
            )
        elif p.state == DeliveryState.GIVEN_UP:
            text = f"**given up** by an operator after {p.attempts} attempt(s)"
        else:
            text = f"**pending**: first delivery attempt to {sink}"
        workflow.set_current_details(f"{text}\n\n{self._facts()}")

    def _facts(self) -> str:
        """What an operator looking at this delivery in the Web UI wants next to its state:
        where it goes, until when it is retried, when it alerts, where the report is."""
        inp, p = self._inp, self._p
        where = inp.sink.url or f"the worker's default {inp.sink.type} URL"
        lines = [f"- sink `{inp.sink.name}` ({inp.sink.type}): {where}"]
        if p.episode_started_at is not None:
            horizon = p.episode_started_at + timedelta(seconds=inp.policy.horizon_seconds)
            lines.append(f"- retried until {_hhmm(horizon)} (horizon), then dead with an alert")
        if inp.alert_after_seconds is not None:
            lines.append(f"- the watchdog alerts after {inp.alert_after_seconds:.0f} s undelivered")
        lines.append(f"- report note: `{inp.note_path or 'none'}`")
        lines.append(f"- run: `{inp.run_id}`")
        return "\n".join(lines)
