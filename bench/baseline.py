"""Baseline designs the patterns are measured against (benchmark code only)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import httpx


@activity.defn(name="bench_inline_deliver")
async def inline_deliver(url: str) -> int:
    """POST once; raise on any failure so Temporal's retry policy retries."""
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.post(
            url,
            json={"event_type": "bench", "summary": "s", "detail": {}},
            headers={"Idempotency-Key": activity.info().workflow_id},
        )
    if response.status_code >= 400 and response.status_code != 409:
        raise RuntimeError(f"HTTP {response.status_code}")
    return response.status_code


@workflow.defn(name="BenchInlineDeliveryWorkflow")
class InlineDeliveryWorkflow:
    """The naive design: deliver inline with an activity retry policy; the run waits."""

    @workflow.run
    async def run(self, url: str) -> int:
        result: int = await workflow.execute_activity(
            inline_deliver,
            url,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(seconds=10),
            ),
        )
        return result


@workflow.defn(name="BenchPlainRunWorkflow")
class PlainRunWorkflow:
    """The same activities as a run, inline: no child, no guard, no search attributes."""

    @workflow.run
    async def run(self, name: str, activity_task_queue: str) -> str:
        with workflow.unsafe.imports_passed_through():
            from activity_core.domain import (
                ActivityDefinition,
                DeliveryAttemptInput,
                DeliveryAttemptResult,
                HandlerInput,
                LoadDefinitionInput,
                PersistNoteInput,
                PersistNoteResult,
                ProgressEvent,
                Report,
            )
        opts: dict[str, object] = {
            "task_queue": activity_task_queue,
            "start_to_close_timeout": timedelta(seconds=30),
        }
        run_id = workflow.info().workflow_id
        now = workflow.now()
        definition = await workflow.execute_activity(
            "load_definition",
            LoadDefinitionInput(activity_name=name),
            result_type=ActivityDefinition,
            **opts,  # type: ignore[arg-type]
        )
        report = await workflow.execute_activity(
            "run_handler",
            HandlerInput(definition=definition, run_id=run_id, scheduled_for=now),
            result_type=Report,
            **opts,  # type: ignore[arg-type]
        )
        note = await workflow.execute_activity(
            "persist_note",
            PersistNoteInput(
                run_id=run_id,
                definition=definition,
                scheduled_for=now,
                generated_at=now,
                report=report,
            ),
            result_type=PersistNoteResult,
            **opts,  # type: ignore[arg-type]
        )
        for sink in definition.remote_sinks:
            result = await workflow.execute_activity(
                "deliver",
                DeliveryAttemptInput(
                    sink=sink,
                    event=ProgressEvent(
                        event_type="bench",
                        summary=report.summary,
                        detail={"activity_core_run_id": run_id, "note_path": note.path},
                    ),
                    idempotency_key=f"{run_id}:{sink.name}",
                    attempt=1,
                ),
                result_type=DeliveryAttemptResult,
                **opts,  # type: ignore[arg-type]
            )
            if result.outcome.value not in ("delivered", "duplicate"):
                raise RuntimeError(f"delivery failed: {result.error}")
        return note.path


_HTTP: dict[str, httpx.AsyncClient] = {}


@activity.defn(name="bench_minimal_deliver")
async def minimal_deliver(url: str) -> int:
    """POST once with one pooled client (the minimal shape's one activity)."""
    http = _HTTP.get("pooled")
    if http is None:
        http = _HTTP["pooled"] = httpx.AsyncClient(timeout=5)
    response = await http.post(
        url,
        json={"event_type": "bench", "summary": "s", "detail": {}},
        headers={"Idempotency-Key": activity.info().workflow_id},
    )
    return response.status_code


@workflow.defn(name="BenchMinimalWorkflow")
class MinimalWorkflow:
    """The Python SDK benchmark's shape: one workflow, one activity."""

    @workflow.run
    async def run(self, url: str) -> int:
        result: int = await workflow.execute_activity(
            minimal_deliver, url, start_to_close_timeout=timedelta(seconds=10)
        )
        return result
