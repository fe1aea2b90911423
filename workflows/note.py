"""The run's working-memory note, written by ``persist_note`` on the activity queue (the
host with the working-memory directory), and retried on a durable timer when it cannot
be written: the run stays open and says why."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.run import RunActivities
    from activity_core.domain import PersistNoteInput, PersistNoteResult
    from activity_core.domain.constants import (
        LOCAL_IO_RETRY,
        NOTE_RETRY_CAP,
        NOTE_RETRY_FIRST,
        PERSIST_NOTE_TIMEOUT,
    )


def cause_of(exc: ActivityError) -> str:
    """What an activity failure says (the application error's message when it has one)."""
    cause = exc.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or exc)


async def persist_note(inp: PersistNoteInput, atq: str) -> PersistNoteResult:
    """Write the note once (an existing note of the same run is kept)."""
    return await workflow.execute_activity_method(
        RunActivities.persist_note,
        inp,
        task_queue=atq,
        start_to_close_timeout=PERSIST_NOTE_TIMEOUT,
        retry_policy=LOCAL_IO_RETRY,
        summary="persist working-memory note",
    )


async def retry_note(inp: PersistNoteInput, error: str, handed: str, atq: str) -> PersistNoteResult:
    """Retry the note on a durable timer until it is written. The run stays open (the
    watchdog pages it as running too long) and its details say why."""
    wait = NOTE_RETRY_FIRST
    while True:
        workflow.set_current_details(
            f"**note not written**: {error}. The report is in this run's history and "
            f"was handed to its sinks ({handed}); the note is retried in "
            f"{wait.total_seconds():.0f} s. Free the working-memory disk."
        )
        await workflow.sleep(wait, summary="wait before retrying the note")
        try:
            return await persist_note(inp, atq)
        except ActivityError as exc:
            error = cause_of(exc)
            wait = min(wait * 2, NOTE_RETRY_CAP)
