"""Activities of ActivityRunWorkflow: load the definition, run the handler, persist notes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import TypeAdapter, ValidationError
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities import notes
from activities.handlers import HANDLERS, HandlerContext
from activity_core.catalog import Catalog
from activity_core.domain import (
    ActivityDefinition,
    AlertNoteInput,
    AlertNoteResult,
    HandlerInput,
    HandlerNoteResult,
    LoadDefinitionInput,
    PersistNoteInput,
    PersistNoteResult,
    Report,
)
from activity_core.domain.report import report_digest
from activity_core.domain.sinks import SinkConfig
from activity_core.domain.tasks import Task, tasks_heading, tasks_markdown
from activity_core.errors import (
    DEFINITION_INVALID,
    DEFINITION_NOT_FOUND,
    HANDLER_INPUT_INVALID,
    NOTE_CONFLICT,
    UNKNOWN_HANDLER,
    DefinitionNotFound,
    DefinitionsError,
)
from activity_core.settings import Settings
from activity_core.store import Ledger, Store

log = logging.getLogger(__name__)
TASKS_JSON = TypeAdapter(list[Task])


class RunActivities:
    """Activities that need the worker's settings and a Temporal client."""

    def __init__(
        self,
        client: Client,
        settings: Settings,
        store: Store | None = None,
        on_definition: Callable[[list[SinkConfig]], None] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        """Build once per worker.

        Args:
            client: Temporal client (handlers read visibility through it).
            settings: Worker settings (definitions and working-memory directories).
            store: The registry and ledger (None: the definitions directory only, and
                handlers read Temporal visibility).
            on_definition: Told the sinks of every definition a run loads (the worker
                polls their queues from then on).
            catalog: The worker's catalogue (default: one over ``store``).
        """
        self._on_definition = on_definition
        self._client = client
        self._settings = settings
        self._catalog = catalog or Catalog(settings, store)
        self._ledger = Ledger(store) if store is not None else None

    @activity.defn(name="load_definition")
    async def load_definition(self, inp: LoadDefinitionInput) -> ActivityDefinition:
        """The definition in force, from the catalogue (:mod:`activity_core.catalog`).

        The registry holds what the last sync imported and the API's definitions; a
        registry that cannot be reached is not an outage: the last registry read, else the
        directory answers, and the catalogue says so.

        Raises:
            ApplicationError: ``DefinitionInvalid`` or ``DefinitionNotFound`` (non-retryable).
        """
        found = (await self._find(inp)).with_issue_backend(self._settings.issue_sink_type)
        if self._on_definition is not None:
            self._on_definition(found.sinks)
        return found

    async def _find(self, inp: LoadDefinitionInput) -> ActivityDefinition:
        try:
            return await self._catalog.find(inp.activity_id or "", name=inp.activity_name)
        except DefinitionsError as exc:
            raise ApplicationError(str(exc), type=DEFINITION_INVALID, non_retryable=True) from None
        except DefinitionNotFound as exc:
            raise ApplicationError(
                str(exc), type=DEFINITION_NOT_FOUND, non_retryable=True
            ) from None

    @activity.defn(name="run_handler")
    async def run_handler(self, inp: HandlerInput) -> Report:
        """Run the definition's handler and return its report.

        Raises:
            ApplicationError: ``UnknownHandler`` or ``HandlerInputInvalid`` (non-retryable).
        """
        handler = HANDLERS.get(inp.definition.handler)
        if handler is None:
            raise ApplicationError(
                f"unknown handler {inp.definition.handler!r} "
                f"(known: {', '.join(sorted(HANDLERS))})",
                type=UNKNOWN_HANDLER,
                non_retryable=True,
            )
        try:
            report = await handler(HandlerContext(inp, self._client, self._settings, self._ledger))
        except (ValueError, TypeError, ValidationError) as exc:
            raise ApplicationError(
                f"handler {inp.definition.handler!r} rejected its params: {exc}",
                type=HANDLER_INPUT_INVALID,
                non_retryable=True,
            ) from None
        return await self._within_limit(inp, report)

    async def _within_limit(self, inp: HandlerInput, report: Report) -> Report:
        """Keep an oversize report whole on disk; hand back a notice that points at it."""
        size = len(report.model_dump_json().encode())
        limit = self._settings.max_report_bytes
        if size <= limit:
            return report
        name = f"{inp.definition.name}-{notes.short_id(inp.run_id)}-full.md"
        path = notes.within(self._root(), "oversize", name)
        front = {
            "kind": "activity_report_oversize",
            "activity_core_run_id": inp.run_id,
            "activity_name": inp.definition.name,
            "bytes": size,
        }
        content = notes.render(front, report.markdown + notes.data_block(report.data))
        await asyncio.to_thread(notes.write_once, path, content)
        message = (
            f"report too large: {size} bytes exceeds ACTCORE_MAX_REPORT_BYTES={limit}; "
            f"the full report is kept at {path}"
        )
        log.warning(message, extra={"activity_core_run_id": inp.run_id})
        # The tasks travel on when they fit on their own: they are what an operator acts on.
        tasks = report.tasks if len(TASKS_JSON.dump_json(report.tasks)) <= limit // 2 else []
        return Report(
            title=f"{report.title} (too large, kept on disk)",
            summary=message,
            markdown=f"# {report.title}\n\n**{message}**.\n\n{report.summary}\n",
            data={"oversize": True, "bytes": size, "limit": limit, "full_report_path": str(path)},
            tasks=tasks,
        )

    def _root(self) -> Path:
        return self._settings.working_memory_dir

    @activity.defn(name="run_handler_and_note")
    async def run_handler_and_note(self, inp: HandlerInput) -> HandlerNoteResult:
        """Run the handler, then write the report note at once, in one activity (one
        round trip through the task queue instead of two).

        A note that cannot be written does not fail the activity (a retry would run the
        handler again): the result carries the error and the run writes the note itself.

        Raises:
            ApplicationError: As :meth:`run_handler`.
        """
        report = await self.run_handler(inp)
        generated_at = datetime.now(UTC)
        note_input = PersistNoteInput(
            run_id=inp.run_id,
            definition=inp.definition,
            scheduled_for=inp.scheduled_for,
            generated_at=generated_at,
            report=report,
        )
        try:
            note = await self.persist_note(note_input)
        except (OSError, ApplicationError) as exc:
            error = str(exc)[:500]
            log.error(
                "report note not written with the report: %s",
                error,
                extra={"activity_core_run_id": inp.run_id, "activity": inp.definition.name},
            )
            return HandlerNoteResult(report=report, generated_at=generated_at, note_error=error)
        return HandlerNoteResult(report=report, generated_at=generated_at, note=note)

    @activity.defn(name="persist_note")
    async def persist_note(self, inp: PersistNoteInput) -> PersistNoteResult:
        """Write the report note once; an existing note for the run is kept (``exists``)."""
        d = inp.definition
        sub = d.working_memory.subdirectory
        name = notes.report_note_name(d.name, inp.scheduled_for, d.zone, inp.run_id)
        path = notes.within(self._root(), *(sub.split("/") if sub else []), name)
        front: dict[str, object] = {
            "kind": "activity_report",
            "activity_core_run_id": inp.run_id,
            "activity_id": str(d.id),
            "activity_name": d.name,
            "scheduled_for": inp.scheduled_for.isoformat(),
            "generated_at": inp.generated_at.isoformat(),
            "title": inp.report.title,
            "summary": inp.report.summary,
        }
        body = (
            inp.report.markdown
            + tasks_markdown(inp.report.tasks, tasks_heading(d))
            + notes.data_block(inp.report.data)
        )
        if inp.report.tasks:
            front["tasks"] = len(inp.report.tasks)
        status = await asyncio.to_thread(notes.write_once, path, notes.render(front, body))
        if status == "exists":
            existing = notes.read_front_matter(path).get("activity_core_run_id")
            if existing != inp.run_id:
                raise ApplicationError(
                    f"{path} exists but belongs to run {existing!r}, not {inp.run_id!r}",
                    type=NOTE_CONFLICT,
                )
        log.info(
            "report note %s",
            status,
            extra={"path": str(path), "activity_core_run_id": inp.run_id, "activity": d.name},
        )
        return PersistNoteResult(
            path=str(path), status=status, report_digest=report_digest(inp.report)
        )

    @activity.defn(name="write_alert_note")
    async def write_alert_note(self, inp: AlertNoteInput) -> AlertNoteResult:
        """Write an alert note (once per alert key) and log it at ERROR.

        Dead deliveries fold into one note per sink and day: ten deliveries dead behind one
        broken sink (or woken by ``retry --all`` while it is still broken) are one problem;
        the watchdog's ``sink_dead`` alert carries their count.
        """
        raised = activity.info().current_attempt_scheduled_time
        key, subject, body = inp.key, inp.activity_name, inp.body
        sink = dead_sink(inp)
        if sink is not None:
            key, subject = f"delivery_dead:{sink}:{raised:%Y-%m-%d}", sink
            body += (
                f"\nFurther deliveries to `{sink}` that go dead today add to this problem "
                "without a note of their own: `actcore deliveries list --status dead` lists "
                "them, and the watchdog's sink alert counts them.\n"
            )
        name = (
            f"alert-{notes.safe_component(inp.kind)}-{notes.safe_component(subject)}-"
            f"{notes.short_id(key)}.md"
        )
        path = notes.within(self._root(), "alerts", name)
        front = {
            "kind": "activity_alert",
            "alert_kind": inp.kind,
            "alert_key": key,
            "activity_core_run_id": inp.run_id,
            "activity_id": inp.activity_id,
            "activity_name": inp.activity_name,
            "raised_at": raised.isoformat(),
        }
        content = notes.render(front, f"# {inp.title}\n\n{body}")
        status = await asyncio.to_thread(notes.write_once, path, content)
        if status == "written":
            activity.metric_meter().create_counter(
                "activity_core_alerts", "Alert notes written, by definition and kind"
            ).add(1, {"activity": inp.activity_name, "kind": inp.kind})
        log.log(
            logging.ERROR if status == "written" else logging.WARNING,
            "ALERT %s: %s" if status == "written" else "alert %s folded into its note: %s",
            inp.kind,
            inp.title,
            extra={
                "alert_kind": inp.kind,
                "alert_key": key,
                "activity_core_run_id": inp.run_id,
                "activity": inp.activity_name,
                "path": str(path),
                "note_status": status,
            },
        )
        return AlertNoteResult(path=str(path), status=status)


def dead_sink(inp: AlertNoteInput) -> str | None:
    """The sink of a ``delivery_dead`` alert (its key is ``delivery_dead:<run>:<sink>:
    <episode>``, as the delivery workflow writes it); None for every other alert."""
    if inp.kind != "delivery_dead":
        return None
    parts = inp.key.split(":", 3)
    return parts[2] if len(parts) == 4 and parts[2] else None
