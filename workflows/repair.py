"""Repair workflows: start a backfill plan's runs, paced; recover a window's deliveries.

``BackfillWorkflow`` starts each run of a plan as an abandoned child under its fire's
deterministic id (a fire that already ran or is running keeps its run: nothing starts),
one every ``1 / rate`` seconds, and continues-as-new when its history grows.
``DeliveryRecoverWorkflow`` wakes the dead and waiting deliveries of a window, paced and
oldest first, waits for them to settle and writes one summary note for all of them.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.monitor import MonitorActivities
    from activities.run import RunActivities
    from activity_core.domain import AlertNoteInput, RunInput, WakeInput
    from activity_core.domain import search_attributes as sa
    from activity_core.domain.backfill import BackfillInput, BackfillResult
    from activity_core.domain.constants import (
        ACTIVITY_RUN_WORKFLOW,
        ALERT_NOTE_TIMEOUT,
        BACKFILL_WORKFLOW,
        LOCAL_IO_RETRY,
        RECOVER_WORKFLOW,
        TASK_EXECUTION_TQ,
    )
    from activity_core.domain.recover import (
        RecoverInput,
        RecoverResult,
        SeenDelivery,
        recover_summary,
        settled,
    )

SETTLE_POLL = timedelta(seconds=5)


@workflow.defn(name=BACKFILL_WORKFLOW)
class BackfillWorkflow:
    """Start a backfill plan's runs, paced."""

    def __init__(self) -> None:
        """Nothing started yet."""
        self._done = 0
        self._total = 0

    @workflow.query
    def progress(self) -> dict[str, int]:
        """Runs handled so far and in all."""
        return {"handled": self._done, "total": self._total}

    @workflow.run
    async def run(self, inp: BackfillInput) -> BackfillResult:
        """Start each run (oldest fire first), one every ``1 / rate`` seconds."""
        started, already = list(inp.started), list(inp.already)
        self._total = len(inp.runs) + len(started) + len(already)
        interval = timedelta(seconds=1.0 / inp.rate_per_second)
        for i, run in enumerate(inp.runs):
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    inp.model_copy(
                        update={"runs": inp.runs[i:], "started": started, "already": already}
                    )
                )
            if i:
                await workflow.sleep(interval)
            attributes = TypedSearchAttributes(
                [
                    SearchAttributePair(sa.ACTIVITY_ID, run.activity_id),
                    SearchAttributePair(sa.ACTIVITY_NAME, run.activity_name),
                    SearchAttributePair(sa.SCHEDULED_FOR, run.fire),
                    SearchAttributePair(sa.RUN_TRIGGER, "backfill"),
                ]
            )
            try:
                await workflow.start_child_workflow(
                    ACTIVITY_RUN_WORKFLOW,
                    RunInput(
                        activity_id=run.activity_id,
                        activity_name=run.activity_name,
                        trigger="backfill",
                        nominal=run.fire,
                        covers=run.covers,
                        activity_task_queue=inp.activity_task_queue,
                    ),
                    id=run.run_id,
                    task_queue=inp.run_task_queue,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    # A fire whose backfill run failed may be backfilled again; one that
                    # completed or is running keeps its run.
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                    search_attributes=attributes,
                    static_summary=f"backfill of {run.activity_name} for {run.fire:%F %T} UTC",
                )
                started.append(run.run_id)
            except WorkflowAlreadyStartedError:
                already.append(run.run_id)
            self._done = len(started) + len(already)
            workflow.set_current_details(
                f"plan `{inp.plan_id}`: {len(started)} started, {len(already)} already ran "
                f"or running, {self._total - self._done} to go"
            )
        return BackfillResult(plan_id=inp.plan_id, started=started, already=already)


@workflow.defn(name=RECOVER_WORKFLOW)
class DeliveryRecoverWorkflow:
    """Wake a window's dead and waiting deliveries and write one summary note."""

    async def _states(self, ids: list[str], atq: str) -> dict[str, SeenDelivery]:
        found: dict[str, SeenDelivery] = await workflow.execute_activity_method(
            MonitorActivities.delivery_states,
            ids,
            task_queue=atq,
            start_to_close_timeout=timedelta(seconds=120),
        )
        return found

    @workflow.run
    async def run(self, inp: RecoverInput) -> RecoverResult:
        """Wake (paced, oldest first), wait for them to settle, then one note."""
        atq = inp.activity_task_queue or TASK_EXECUTION_TQ
        before = await self._states(inp.delivery_ids, atq)
        woken: int = await workflow.execute_activity_method(
            MonitorActivities.wake_deliveries,
            WakeInput(
                delivery_ids=inp.delivery_ids,
                rate_per_second=inp.rate_per_second,
                recovered_by=inp.recover_id,
            ),
            task_queue=atq,
            start_to_close_timeout=timedelta(
                seconds=60 + len(inp.delivery_ids) / inp.rate_per_second * 2
            ),
            heartbeat_timeout=timedelta(seconds=60),
        )
        deadline = workflow.now() + timedelta(seconds=inp.settle_seconds)
        states = {d: s.state for d, s in before.items()}
        pending = list(inp.delivery_ids)
        while pending:
            # Only the ones still to try are asked again: a dead one stays dead until its
            # attempt comes back, so "dead" alone does not mean it has been tried.
            now = await self._states(pending, atq)
            states.update({d: s.state for d, s in now.items()})
            pending = [d for d in pending if not settled(before.get(d), now[d])]
            if not pending or workflow.now() >= deadline:
                break
            await workflow.sleep(SETTLE_POLL)
        title, body = recover_summary(inp, states)
        path: str | None = None
        try:
            note = await workflow.execute_activity_method(
                RunActivities.write_alert_note,
                AlertNoteInput(
                    kind="deliveries_recovered",
                    run_id=inp.recover_id,
                    activity_id="",
                    activity_name="deliveries",
                    key=f"deliveries_recovered:{inp.recover_id}",
                    title=title,
                    body=body,
                ),
                task_queue=atq,
                start_to_close_timeout=ALERT_NOTE_TIMEOUT,
                retry_policy=LOCAL_IO_RETRY,
                summary="recover summary note",
            )
            path = note.path
        except ActivityError as exc:
            workflow.logger.error("could not write the recover note: %s", exc.cause or exc)
        workflow.set_current_details(f"**{title}**")
        return RecoverResult(recover_id=inp.recover_id, woken=woken, states=states, note_path=path)
