"""MissedFireWatchdogWorkflow: one pass of the missed-fire watchdog.

Started every few minutes by the ``activity-core-watchdog`` schedule. The pass asks the
server what should have happened and what did (``watchdog_observe``), then for each new
alert or recovery notice writes a working-memory note at once and hands the alert to
``ReportDeliveryWorkflow`` children (State Hub, webhooks), exactly like a report. Child
ids derive from the alert id and reject duplicates, so a repeated pass never sends an
alert twice. The pass ends with the dead-man ping; its result carries the alert state to
the next pass.

Everything runs on the watchdog's own task queue, so a watchdog worker deployed apart
from the run workers keeps alerting while they are down.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.run import RunActivities
    from activities.watchdog import WatchdogActivities
    from activity_core.domain import (
        Alert,
        AlertNoteInput,
        AlertSinks,
        DeliveryInput,
        ObserveInput,
        PingInput,
        Severity,
        WatchdogInput,
        WatchdogPassResult,
        WatchdogPlan,
        alert_event,
        alert_markdown,
    )
    from activity_core.domain.constants import (
        ALERT_NOTE_TIMEOUT,
        LOCAL_IO_RETRY,
        WATCHDOG_OBSERVE_HEARTBEAT,
        WATCHDOG_OBSERVE_RETRY,
        WATCHDOG_OBSERVE_TIMEOUT,
        WATCHDOG_PING_RETRY,
        WATCHDOG_PING_TIMEOUT,
    )
    from workflows.handover import start_delivery


@workflow.defn(name="MissedFireWatchdogWorkflow")
class MissedFireWatchdogWorkflow:
    """Account for every expected fire; alert once per problem."""

    @workflow.run
    async def run(self, inp: WatchdogInput) -> WatchdogPassResult:
        """One pass: observe, alert, ping."""
        queue = workflow.info().task_queue
        plan = await workflow.execute_activity_method(
            WatchdogActivities.observe,
            ObserveInput(
                names=inp.names,
                lookback_seconds=inp.lookback_seconds,
                pass_id=workflow.info().workflow_id,
            ),
            task_queue=queue,
            start_to_close_timeout=WATCHDOG_OBSERVE_TIMEOUT,
            heartbeat_timeout=WATCHDOG_OBSERVE_HEARTBEAT,
            retry_policy=WATCHDOG_OBSERVE_RETRY,
            summary="judge every expected fire",
        )
        folded = plan.advance
        for alert in [*folded.raised, *folded.recovered]:
            await self._send(alert, plan.alerts, queue)
        self._metrics(plan)
        pinged = await self._ping(plan)
        pages = [a for a in folded.state.open_alerts if a.severity == Severity.PAGE]
        workflow.set_current_details(
            f"**{len(plan.summaries)} definitions checked**; raised {len(folded.raised)}, "
            f"recovered {len(folded.recovered)}; open page alerts: {len(pages)}"
            + "".join(f"\n- `{a.alert_id}`: {a.title()}" for a in pages)
        )
        return WatchdogPassResult(
            at=plan.now,
            state=folded.state,
            summaries=plan.summaries,
            raised=[a.alert_id for a in folded.raised],
            recovered=[a.alert_id for a in folded.recovered],
            pinged=pinged,
        )

    async def _send(self, alert: Alert, sinks: AlertSinks, queue: str) -> None:
        """Note at once, then one durable delivery per alert sink."""
        first_run = next((f.run_id for f in alert.fires if f.run_id), None)
        note = await workflow.execute_activity_method(
            RunActivities.write_alert_note,
            AlertNoteInput(
                kind=alert.kind,
                run_id=first_run or workflow.info().workflow_id,
                activity_id=alert.activity_id,
                activity_name=alert.activity_name,
                title=alert.title(),
                body=alert_markdown(alert),
                key=alert.alert_id,
            ),
            task_queue=queue,
            start_to_close_timeout=ALERT_NOTE_TIMEOUT,
            retry_policy=LOCAL_IO_RETRY,
            summary=f"alert note {alert.kind}",
        )
        if note.status == "written":
            workflow.metric_meter().create_counter(
                "activity_core_watchdog_alerts", "Watchdog alerts and recovery notices by kind"
            ).add(
                1,
                {
                    "activity": alert.activity_name,
                    "kind": alert.kind,
                    "severity": alert.severity.value,
                },
            )
        event = alert_event(alert, note.path)
        for sink in sinks.sinks:
            started = await start_delivery(
                DeliveryInput(
                    run_id=alert.alert_id,
                    activity_id=alert.activity_id,
                    activity_name=alert.activity_name,
                    sink=sink,
                    event=event,
                    policy=sinks.policy,
                    note_path=note.path,
                    activity_task_queue=queue,
                ),
                summary=f"deliver alert {alert.kind} of {alert.activity_name}",
                task_queue=queue,
                reject_duplicates=True,
            )
            if not started:
                workflow.logger.info("alert %s already handed to %s", alert.alert_id, sink.name)

    def _metrics(self, plan: WatchdogPlan) -> None:
        meter = workflow.metric_meter()
        judged = meter.create_counter(
            "activity_core_fire_verdicts", "Fires judged by the watchdog, once each, by verdict"
        )
        for definition, kinds in plan.verdicts.items():
            for verdict, n in kinds.items():
                judged.add(n, {"definition": definition, "verdict": verdict})
        opened = meter.create_gauge(
            "activity_core_watchdog_open_alerts", "Open watchdog alerts by severity"
        )
        for severity in Severity:
            count = sum(  # a mute holds its alerts back from the page rules too
                1 for a in plan.advance.state.open_alerts if a.severity == severity and not a.muted
            )
            opened.set(count, {"severity": severity.value})
        meter.create_gauge(
            "activity_core_watchdog_last_pass_timestamp_seconds",
            "Unix time of the last completed watchdog pass",
            "",
        ).set(int(plan.now.timestamp()))

    async def _ping(self, plan: WatchdogPlan) -> bool | None:
        folded = plan.advance
        summary = (
            f"activity-core watchdog: {len(plan.summaries)} definitions, "
            f"{len(folded.state.open_alerts)} open alerts, raised {len(folded.raised)}"
        )
        try:
            sent = await workflow.execute_activity_method(
                WatchdogActivities.ping,
                PingInput(summary=summary),
                task_queue=workflow.info().task_queue,
                start_to_close_timeout=WATCHDOG_PING_TIMEOUT,
                retry_policy=WATCHDOG_PING_RETRY,
            )
        except ActivityError as exc:
            workflow.logger.warning("dead-man ping failed: %s", exc.cause or exc)
            return False
        return sent or None
