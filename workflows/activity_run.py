"""ActivityRunWorkflow: one fire of a definition.

Load the definition, run its handler, persist the report at once (working-memory
note), hand each remote sink to a ReportDeliveryWorkflow child (abandoned,
deterministic id, only the *start* is awaited) and complete. The run's outcome
never depends on a sink being up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.ledger import LedgerActivities
    from activities.run import RunActivities
    from activities.schedule import ScheduleActivities
    from activity_core.domain import (
        ActivityDefinition,
        AlertNoteInput,
        CronTrigger,
        DeliveryHandoff,
        DeliveryInput,
        GuardDecision,
        HandlerInput,
        IntervalTrigger,
        LoadDefinitionInput,
        PersistNoteInput,
        PersistNoteResult,
        PlanFireInput,
        Report,
        RunInput,
        RunOutcome,
        RunResult,
        StateHubProgressSink,
        WebhookSink,
        backfill_decision,
        decide,
        handler_budget_seconds,
    )
    from activity_core.domain import search_attributes as sa
    from activity_core.domain.constants import (
        ALERT_NOTE_TIMEOUT,
        HANDLER_NOTE_PATCH,
        HANDLER_RETRY,
        LOAD_DEFINITION_TIMEOUT,
        LOCAL_IO_RETRY,
        LOCAL_STEPS_PATCH,
        NOTE_DEFERRED_PATCH,
        PERSIST_NOTE_TIMEOUT,
        PLAN_FIRE_TIMEOUT,
        TASK_EMISSION_PATCH,
        TASK_EXECUTION_TQ,
    )
    from activity_core.domain.ledger import RunRecord, finished_record, started_record
    from activity_core.domain.report import (
        build_event,
        could_not_run_report,
        skip_alert_body,
    )
    from workflows.context import resolve_context
    from workflows.handover import hand_over, hand_over_tasks
    from workflows.ledger import write_ledger
    from workflows.note import cause_of, persist_note, retry_note


NOTE_PENDING = "(not written yet: the working-memory note failed; see the run's details)"


def count_run(activity: str, outcome: RunOutcome) -> None:
    """``activity_core_runs{activity, outcome}`` and the run's duration so far, from its
    start to its outcome (``activity_core_run_duration_seconds``; replay-safe)."""
    meter = workflow.metric_meter()
    labels = {"activity": activity, "outcome": outcome.value}
    meter.create_counter("activity_core_runs", "Activity runs by outcome").add(1, labels)
    meter.create_histogram_timedelta(
        "activity_core_run_duration", "From a run's start to its outcome", "s"
    ).record(workflow.now() - workflow.info().start_time, labels)


A = TypeVar("A")
R = TypeVar("R")


@workflow.defn(name="ActivityRunWorkflow")
class ActivityRunWorkflow:
    """Run a definition once and hand its report to durable delivery."""

    @workflow.run
    async def run(self, inp: RunInput) -> RunResult:
        """Produce, persist and hand over one report."""
        info = workflow.info()
        started = self._started = workflow.now()
        self._ledger_ok = True
        run_id = info.workflow_id
        atq = inp.activity_task_queue or TASK_EXECUTION_TQ
        # Short, idempotent reads: local activities on the workflow's own worker (which
        # has the same definitions and registry), not a round trip through a task queue.
        self._local = workflow.patched(LOCAL_STEPS_PATCH)
        definition = await self._read(
            RunActivities.load_definition,
            LoadDefinitionInput(activity_id=inp.activity_id, activity_name=inp.activity_name),
            atq,
            LOAD_DEFINITION_TIMEOUT,
            "load definition",
        )
        nominal = (
            info.typed_search_attributes.get(sa.SCHEDULED_START_TIME)
            or inp.nominal
            or info.start_time
        )
        decision = await self._guard(inp, definition, nominal, started, atq)
        scheduled_for = decision.effective_fire if decision and decision.run else nominal
        workflow.upsert_search_attributes(
            [
                sa.ACTIVITY_ID.value_set(str(definition.id)),
                sa.ACTIVITY_NAME.value_set(definition.name),
                sa.SCHEDULED_FOR.value_set(scheduled_for),
            ]
        )
        self._ledger_ok = await self._ledger(
            started_record(
                run_id=run_id,
                activity_id=str(definition.id),
                activity_name=definition.name,
                trigger=inp.trigger,
                nominal_fire=nominal,
                scheduled_for=scheduled_for,
                fired_at=info.start_time,
                started_at=started,
            )
        )
        if decision is not None and not decision.run:
            return await self._finish(await self._record_skip(inp, definition, decision, atq))
        by_event = f", event `{inp.event.event_id}`" if inp.event is not None else ""
        workflow.set_current_details(
            f"**running** `{definition.handler}` for `{definition.name}` "
            f"(scheduled for {scheduled_for.isoformat()}, trigger: {inp.trigger}{by_event})"
        )
        context, degraded, missing = await resolve_context(definition, atq)
        written: PersistNoteResult | None = None
        generated_at: datetime | None = None
        first_note_error: str | None = None
        if missing:
            report = could_not_run_report(definition, run_id, scheduled_for, missing)
        else:
            handler_input = HandlerInput(
                definition=definition,
                run_id=run_id,
                scheduled_for=scheduled_for,
                context=context,
                degraded=degraded,
                event=inp.event,
            )
            handler_timeout = timedelta(seconds=handler_budget_seconds(definition))
            if workflow.patched(HANDLER_NOTE_PATCH):
                # The handler's activity writes the note as soon as the report exists: one
                # round trip, on a host with the working-memory directory.
                done = await workflow.execute_activity_method(
                    RunActivities.run_handler_and_note,
                    handler_input,
                    task_queue=atq,
                    start_to_close_timeout=handler_timeout + PERSIST_NOTE_TIMEOUT,
                    retry_policy=HANDLER_RETRY,
                    summary=f"handler {definition.handler}, then the note",
                )
                report, written, generated_at = done.report, done.note, done.generated_at
                first_note_error = done.note_error
            else:
                report = await workflow.execute_activity_method(
                    RunActivities.run_handler,
                    handler_input,
                    task_queue=atq,
                    start_to_close_timeout=handler_timeout,
                    retry_policy=HANDLER_RETRY,
                    summary=f"handler {definition.handler}",
                )

        # Persist at once: after this step nothing can lose the report.
        note_input = PersistNoteInput(
            run_id=run_id,
            definition=definition,
            scheduled_for=scheduled_for,
            generated_at=generated_at or workflow.now(),
            report=report,
        )
        if first_note_error is not None:
            workflow.logger.warning("note not written with the report: %s", first_note_error)
        note_error: str | None = None
        deferred = workflow.patched(NOTE_DEFERRED_PATCH)
        if written is not None:
            note = written
        elif deferred:
            # A note that cannot be written (a full disk) does not keep the report from its
            # remote sinks: it is in this history; the note is retried after the handover.
            try:
                note = await persist_note(note_input, atq)
            except ActivityError as exc:
                note_error = cause_of(exc)
                workflow.logger.error("working-memory note not written: %s", note_error)
                note = PersistNoteResult(path=NOTE_PENDING, status="written")
        else:
            note = await persist_note(note_input, atq)

        deliveries = [
            await self._hand_over(sink, run_id, definition, scheduled_for, report, note, atq)
            for sink in definition.remote_sinks
        ]
        if report.tasks and workflow.patched(TASK_EMISSION_PATCH):
            deliveries += await hand_over_tasks(definition, run_id, report, note, atq)
        outcome = decision.outcome if decision else RunOutcome.RAN
        if missing:
            outcome = RunOutcome.COULD_NOT_RUN
        count_run(definition.name, outcome)
        workflow.upsert_search_attributes([sa.RUN_OUTCOME.value_set(outcome.value)])
        handed = ", ".join(f"`{d.workflow_id}`" for d in deliveries) or "none"
        if note_error is not None:
            note = await retry_note(note_input, note_error, handed, atq)
        workflow.set_current_details(
            f"**{outcome.value}**: report persisted to `{note.path}`; "
            f"deliveries handed over: {handed}"
        )
        result = RunResult(
            run_id=run_id,
            activity_id=str(definition.id),
            activity_name=definition.name,
            outcome=outcome,
            scheduled_for=scheduled_for,
            report_path=note.path,
            note_status=note.status,
            deliveries=deliveries,
            trigger=inp.trigger,
            nominal_fire=nominal,
            lateness_seconds=decision.lateness_s if decision else 0.0,
            covered_fires=decision.covered if decision else [nominal],
        )
        return await self._finish(result, note.report_digest)

    async def _read(
        self,
        method: Callable[[Any, A], Awaitable[R]],
        arg: A,
        atq: str,
        limit: timedelta,
        summary: str,
    ) -> R:
        """A short idempotent read: a local activity (patched executions), else an activity
        on the run's activity queue (the shape of older histories)."""
        if self._local:
            return await workflow.execute_local_activity_method(
                method,
                arg,
                start_to_close_timeout=limit,
                retry_policy=LOCAL_IO_RETRY,
                summary=summary,
            )
        return await workflow.execute_activity_method(
            method,
            arg,
            task_queue=atq,
            start_to_close_timeout=limit,
            retry_policy=LOCAL_IO_RETRY,
            summary=summary,
        )

    async def _finish(self, result: RunResult, report_digest: str | None = None) -> RunResult:
        """Record the closing state in the ledger; the result says when that is pending."""
        info = workflow.info()
        ok = await self._ledger(
            finished_record(
                result,
                fired_at=info.start_time,
                started_at=self._started,
                finished_at=workflow.now(),
                report_digest=report_digest,
            )
        )
        result.ledger_pending = not (ok and self._ledger_ok)
        return result

    async def _ledger(self, record: RunRecord) -> bool:
        """Write the run's ledger row; False: pending for reconciliation."""
        return await write_ledger(
            LedgerActivities.record_run, record, f"ledger: run {record.state}"
        )

    async def _guard(
        self,
        inp: RunInput,
        definition: ActivityDefinition,
        nominal: datetime,
        started: datetime,
        atq: str,
    ) -> GuardDecision | None:
        """The misfire guard: None for runs that bypass it (manual, event)."""
        trig = definition.trigger_config
        if inp.trigger == "backfill":
            # Started on purpose for a fire of the past: it runs, dated for that fire, and
            # stands for the fires the plan gave it (catchup_latest) as a late run would.
            return backfill_decision(nominal, started, inp.covers)
        if inp.trigger != "schedule" or not isinstance(trig, CronTrigger | IntervalTrigger):
            return None
        plan_input = PlanFireInput(
            definition=definition,
            schedule_id=workflow.info().typed_search_attributes.get(sa.SCHEDULED_BY_ID),
            nominal=nominal,
        )
        plan = await self._read(
            ScheduleActivities.plan_fire,
            plan_input,
            atq,
            PLAN_FIRE_TIMEOUT,
            "misfire guard: fire times from the server",
        )
        decision = decide(
            trig.misfire_policy,
            nominal=nominal,
            now=started,
            window_s=plan.window_s,
            tolerance_s=plan.tolerance_s,
            later_fires=plan.later_fires,
            fires_with_own_run=plan.fires_with_own_run,
            unstarted_before=plan.unstarted_before,
            max_lateness_s=trig.max_lateness_seconds,
        )
        workflow.logger.info(
            "misfire guard: %s%s",
            decision.describe(),
            f" ({plan.aligned} definitions share this fire: {plan.queue_allowance_s:.0f} s "
            "allowed for the queue)"
            if plan.aligned > 1
            else "",
        )
        # The service level: from the nominal fire to the run's start (replay-safe).
        workflow.metric_meter().create_histogram_timedelta(
            "activity_core_fire_to_start",
            "From a scheduled run's nominal fire to its start executing",
            "s",
        ).record(timedelta(seconds=max(decision.lateness_s, 0.0)), {"definition": definition.name})
        return decision

    async def _record_skip(
        self, inp: RunInput, definition: ActivityDefinition, decision: GuardDecision, atq: str
    ) -> RunResult:
        """A fire too late to run under its policy: visible, never silent."""
        run_id = workflow.info().workflow_id
        fire = decision.covered[0].isoformat()
        trig = definition.trigger_config
        assert isinstance(trig, CronTrigger | IntervalTrigger)  # only scheduled runs are guarded
        policy = trig.misfire_policy.value
        workflow.logger.warning("fire not run: %s", decision.describe())
        if decision.outcome == RunOutcome.SKIPPED_MISSED:
            await self._skip_alert(run_id, definition, decision, fire, policy, atq)
        workflow.upsert_search_attributes([sa.RUN_OUTCOME.value_set(decision.outcome.value)])
        count_run(definition.name, decision.outcome)
        workflow.set_current_details(f"**{decision.outcome.value}**: {decision.describe()}")
        return RunResult(
            run_id=run_id,
            activity_id=str(definition.id),
            activity_name=definition.name,
            outcome=decision.outcome,
            scheduled_for=decision.covered[0],
            report_path=None,
            note_status=None,
            trigger=inp.trigger,
            nominal_fire=decision.covered[0],
            lateness_seconds=decision.lateness_s,
            covered_fires=decision.covered,
        )

    async def _skip_alert(
        self,
        run_id: str,
        definition: ActivityDefinition,
        decision: GuardDecision,
        fire: str,
        policy: str,
        atq: str,
    ) -> None:
        await workflow.execute_activity_method(
            RunActivities.write_alert_note,
            AlertNoteInput(
                kind="skipped_missed",
                run_id=run_id,
                activity_id=str(definition.id),
                activity_name=definition.name,
                key=f"skipped_missed:{definition.id}:{fire}",
                title=f"{definition.name}: fire {fire} skipped ({decision.lateness_s:.0f} s late)",
                body=skip_alert_body(definition, run_id, fire, decision.lateness_s, policy),
            ),
            task_queue=atq,
            start_to_close_timeout=ALERT_NOTE_TIMEOUT,
            retry_policy=LOCAL_IO_RETRY,
            summary="alert note skipped_missed",
        )

    async def _hand_over(
        self,
        sink: StateHubProgressSink | WebhookSink,
        run_id: str,
        definition: ActivityDefinition,
        scheduled_for: datetime,
        report: Report,
        note: PersistNoteResult,
        atq: str,
    ) -> DeliveryHandoff:
        return await hand_over(
            DeliveryInput(
                run_id=run_id,
                activity_id=str(definition.id),
                activity_name=definition.name,
                sink=sink,
                event=build_event(sink, run_id, definition, scheduled_for, report, note),
                policy=definition.delivery,
                note_path=note.path,
                alert_after_seconds=definition.watch.delivery_alert_after_seconds,
                activity_task_queue=atq,
            ),
            summary=f"deliver {definition.name} report to {sink.name}",
        )
