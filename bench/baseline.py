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
