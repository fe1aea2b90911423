"""The words of an alert: the note's markdown and the event body sent to sinks. Pure."""

from __future__ import annotations

from activity_core.domain.constants import SCHEDULE_ID_PREFIX
from activity_core.domain.delivery import ProgressEvent
from activity_core.domain.watchdog import Alert

RUNBOOK = "docs/runbook.md#alerting-and-failure-modes"
RUNBOOK_SECTIONS: dict[str, str] = {
    "pending_unclaimed": "alerting-and-failure-modes",
    "running_too_long": "reading-a-runs-outcome",
    "failed": "reading-a-runs-outcome",
    "missing": "schedules-and-sync",
    "schedule_drift": "schedules-and-sync",
    "late": "did-todays-run-happen",
    "skipped_by_policy": "did-todays-run-happen",
    "skipped_too_late": "did-todays-run-happen",
    "too_fast": "reading-a-runs-outcome",
    "delivery_dead": "a-delivery-is-dead",
    "sink_dead": "a-delivery-is-dead",
    "delivery_waiting": "deliveries-are-waiting-what-now",
    "sink_waiting": "deliveries-are-waiting-what-now",
    "event_router": "event-not-routing",
    "watchdog_blind": "alerting-and-failure-modes",
    "mute_ended": "mutes-and-maintenance-windows",
    "no_events": "event-not-routing",
    "no_pollers": "alerting-and-failure-modes",
    "paused_after_failures": "schedules-and-sync",
    "watchdog_gap": "alerting-and-failure-modes",
}
"""The runbook section (its heading's anchor) that says what to do about an alert kind."""
WHAT_TO_DO: dict[str, str] = {
    "pending_unclaimed": "No worker is polling: check `actcore dev status` or the worker "
    "deployment; runs start as soon as a worker is back (their misfire policy then applies).",
    "running_too_long": "Open the run in the Web UI: a pending activity shows where it is stuck.",
    "failed": "Open the run in the Web UI (or its note for `could not run`), fix the cause, "
    "then `actcore backfill NAME --since 1d --dry-run` shows the fires a backfill would run "
    "(each once, with its own nominal time); without `--dry-run` it runs them. "
    "`actcore trigger NAME` runs the job once now.",
    "missing": 'Check the schedule (`temporal schedule describe --address "$TEMPORAL_ADDRESS" '
    "--schedule-id SCHEDULE_ID`): unpause it or run `actcore sync`; if the server was down, "
    "its catchup window was shorter than the outage. `actcore backfill NAME --since 1d "
    "--dry-run` shows the fires a backfill would run; without `--dry-run` it runs them.",
    "delivery_dead": "`actcore deliveries list --status dead`, fix the sink, then "
    "`actcore deliveries retry --all`.",
    "delivery_waiting": "The report is safe in working memory and is being retried; "
    "`actcore deliveries list --status waiting` shows why.",
    "late": "The worker or server was slow or down around fire time; nothing was lost.",
    "skipped_by_policy": "The misfire policy chose not to run these fires; if they are "
    "needed after all, `actcore backfill NAME --since 1d --only skipped --dry-run` shows "
    "them (without `--dry-run` it runs them).",
    "skipped_too_late": "The fire came later than the trigger's max_lateness_seconds (the "
    "worker or server was down), so it was recorded and not run; `actcore trigger NAME` "
    "runs the job now if the report is still wanted.",
    "too_fast": "The run completed faster than watch.min_runtime_seconds: read its note "
    "(`actcore runs list NAME`), fix what made it do nothing (params, the source it reads), "
    "then `actcore trigger NAME`.",
    "schedule_drift": "Run `actcore sync` to put the schedule back as the definition says.",
    "sink_dead": "`actcore deliveries list --status dead` shows the deliveries and their last "
    "error; fix the sink (token, URL, contract), then `actcore deliveries retry --all "
    "--status dead --sink NAME`. The reports and tasks are safe in working memory.",
    "sink_waiting": "The sink is down or refusing; every delivery waits durably and is "
    "retried (and woken when the sink answers again). `actcore deliveries list --status "
    "waiting` shows why; nothing is lost.",
    "watchdog_gap": "The watchdog did not run for a while (its worker or Temporal was down, "
    "or the watchdog-tq queue had no poller); it caught up now. Make sure a watchdog worker "
    "runs apart from the run workers (`actcore worker --role watchdog`).",
    "paused_after_failures": "The watchdog paused the schedule (watch.pause_after): fix "
    "what fails (the run's note and the Web UI say what), then `temporal schedule toggle "
    '--address "$TEMPORAL_ADDRESS" --schedule-id SCHEDULE_ID --unpause --reason fixed`; '
    "`actcore sync` leaves it paused until then. `actcore trigger NAME` tries a run first.",
    "no_pollers": "No worker polls this task queue, so every run listed waits: start or fix "
    "the run workers (`actcore dev status`, the worker deployment, `temporal task-queue "
    'describe --address "$TEMPORAL_ADDRESS" --task-queue QUEUE`). Runs start as soon as '
    "one polls; their misfire policies then apply. One recovery notice follows.",
    "no_events": "No matching event arrived in time: is the producer publishing? "
    "`actcore events lag` shows the stream, the router, dead letters and unmatched events by "
    "type; the alert closes at the next matching event.",
    "mute_ended": "The mute is over: the alerts it held back are listed; those still open "
    "page from now on as usual. `actcore status` shows where things stand.",
    "watchdog_blind": "The watchdog's calls to Temporal fail for these definitions (its log "
    "says which and why: `definition not seen`); their fires are unknown, neither ok nor "
    "missing. Check the server's visibility store and `actcore status`; the next pass that "
    "sees them judges every fire it missed.",
    "event_router": "`actcore events lag` shows the backlog; start a router (`actcore router`) "
    "or check that NATS and Temporal answer. Events wait in the stream: none is lost. "
    "See the runbook's 'Event not routing'.",
}


_NOT_ABOUT_ONE_DEFINITION = frozenset(
    {"event_router", "watchdog_blind", "mute_ended", "no_pollers", "watchdog_gap"}
)


def runbook_section(kind: str) -> str:
    """The anchor of the runbook section for an alert kind (the alerting overview when
    the kind has no section of its own)."""
    return RUNBOOK_SECTIONS.get(kind, "alerting-and-failure-modes")


def what_to_do(alert: Alert) -> str | None:
    """The alert's next step, with the definition's name in its commands."""
    todo = WHAT_TO_DO.get(alert.kind)
    if todo is None:
        return None
    if alert.kind in ("sink_dead", "sink_waiting"):  # a sink's alert: its name is the sink's
        todo = todo.replace("--sink NAME", f"--sink {alert.activity_name}")
    elif alert.kind not in _NOT_ABOUT_ONE_DEFINITION:
        for command in ("actcore trigger NAME", "actcore runs list NAME", "actcore backfill NAME"):
            todo = todo.replace(command, command.replace("NAME", alert.activity_name))
    if alert.kind == "no_pollers":
        todo = todo.replace("--task-queue QUEUE", f"--task-queue {alert.activity_name}")
    return todo.replace("SCHEDULE_ID", f"{SCHEDULE_ID_PREFIX}{alert.activity_id}")


def alert_markdown(alert: Alert) -> str:
    """Body of an alert note (or recovery notice)."""
    lines: list[str] = []
    if alert.kind == "recovered" and alert.recovered_by is None:
        lines.append(f"Recovered: {alert.detail}. This closes alert `{alert.resolves}`.")
    elif alert.kind == "recovered":
        assert alert.recovered_by is not None
        lines.append(
            f"`{alert.activity_name}` ran ok again for the fire at "
            f"**{alert.recovered_by.fire.isoformat()}** (run `{alert.recovered_by.run_id}`). "
            f"This closes alert `{alert.resolves}`, which covered:"
        )
    elif alert.kind == "schedule_drift":
        lines.append(f"The schedule of `{alert.activity_name}` differs: {alert.detail}.")
    elif alert.kind == "event_router":
        lines.append(f"Severity **{alert.severity.value}**. The event router: {alert.detail}.")
    elif alert.kind == "paused_after_failures":
        lines.append(
            f"Severity **{alert.severity.value}**. `{alert.activity_name}`: {alert.detail}."
        )
    elif alert.kind == "no_pollers":
        lines.append(
            f"Severity **{alert.severity.value}**. Task queue `{alert.activity_name}`: "
            f"{alert.detail}. Their own `pending_unclaimed` alerts joined this incident."
        )
    elif alert.kind == "mute_ended":
        lines.append(
            f"Severity **{alert.severity.value}**. The mute of {alert.activity_name} ended:"
        )
        lines.append("")
        lines.append(alert.detail)
    elif alert.kind == "watchdog_gap":
        lines.append(f"Severity **{alert.severity.value}**. The watchdog was away: {alert.detail}.")
    elif alert.kind == "watchdog_blind":
        lines.append(f"Severity **{alert.severity.value}**. The watchdog is blind: {alert.detail}.")
    elif alert.kind in ("sink_dead", "sink_waiting"):
        lines.append(
            f"Severity **{alert.severity.value}**. Deliveries to sink `{alert.activity_name}` "
            f"(runs of any trigger: schedule, manual, event, alerts): {alert.detail}."
        )
    else:
        lines.append(
            f"Severity **{alert.severity.value}**. Fires of `{alert.activity_name}` "
            "that did not run as expected:"
        )
    if alert.fires:
        lines.append("")
        lines.append("| fire (UTC) | what happened | run | why |")
        lines.append("| --- | --- | --- | --- |")
        for f in alert.fires:
            run = f"`{f.run_id}`" if f.run_id else "-"
            lines.append(f"| {f.fire.isoformat()} | {f.kind.value} | {run} | {f.detail} |")
    todo = what_to_do(alert)
    if todo:
        lines += ["", f"**What to do:** {todo}"]
    runbook = f"docs/runbook.md#{runbook_section(alert.kind)}"
    lines += ["", f"- alert id: `{alert.alert_id}`", f"- runbook: {runbook}"]
    return "\n".join(lines) + "\n"


def alert_event(alert: Alert, note_path: str | None) -> ProgressEvent:
    """The ``activity_alert`` event sent to State Hub and webhook sinks."""
    return ProgressEvent(
        event_type="activity_alert",
        summary=alert.title(),
        detail={
            "activity_core_run_id": alert.alert_id,
            "alert_id": alert.alert_id,
            "alert_kind": alert.kind,
            "severity": alert.severity.value,
            "activity_id": alert.activity_id,
            "activity_name": alert.activity_name,
            "resolves": alert.resolves,
            "fires": [f.model_dump(mode="json") for f in alert.fires],
            "detail": alert.detail,
            "note_path": note_path,
            "report_markdown": alert_markdown(alert),
            "runbook": f"docs/runbook.md#{runbook_section(alert.kind)}",
        },
    )
