"""The workers' sandbox runner (``activity_core/sandbox.py``) gives a payload codec the
same serialization contexts as the SDK's own runner, for every kind of command a
workflow issues, and workflow code still runs inside the sandbox."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import (
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activity_core.sandbox import FastContextSandboxRunner, workflow_runner


class RecordingCodec(PayloadCodec, WithSerializationContext):
    """Leaves payloads as they are and notes the context of every encode and decode."""

    def __init__(self, seen: list[str], context: SerializationContext | None = None) -> None:
        self._seen = seen
        self._context = context

    def with_context(self, context: SerializationContext) -> RecordingCodec:
        return RecordingCodec(self._seen, context)

    def _note(self, op: str, n: int) -> None:
        ctx = self._context
        fields = dataclasses.asdict(ctx) if dataclasses.is_dataclass(ctx) else {}
        shown = ",".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "namespace")
        self._seen.extend([f"{op}:{type(ctx).__name__}({shown})"] * n)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self._note("encode", len(payloads))
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self._note("decode", len(payloads))
        return list(payloads)


@activity.defn(name="sandbox_test_echo")
async def echo(text: str) -> str:
    return text.upper()


@workflow.defn(name="SandboxTestChild")
class SandboxChild:
    @workflow.run
    async def run(self, text: str) -> str:
        return f"child:{text}"


@workflow.defn(name="SandboxTestParent")
class SandboxParent:
    @workflow.run
    async def run(self, text: str) -> list[str]:
        out = [
            await workflow.execute_activity(
                echo, text, start_to_close_timeout=timedelta(seconds=10)
            ),
            await workflow.execute_local_activity(
                echo, f"{text}-local", start_to_close_timeout=timedelta(seconds=10)
            ),
            await workflow.execute_child_workflow(
                SandboxChild.run, text, id=f"{workflow.info().workflow_id}-child"
            ),
        ]
        try:
            os.getcwd()  # the sandbox refuses this in workflow code
            out.append("not sandboxed")
        except Exception as err:  # the sandbox's RestrictedWorkflowAccessError
            out.append(type(err).__name__)
        return out


async def _run(env: WorkflowEnvironment, runner: WorkflowRunner) -> tuple[list[str], list[str]]:
    seen: list[str] = []
    config = env.client.config()
    config["data_converter"] = dataclasses.replace(
        env.client.data_converter, payload_codec=RecordingCodec(seen)
    )
    client = Client(**config)
    queue = f"tq-sandbox-{uuid.uuid4().hex[:8]}"
    wid = f"sandbox-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[SandboxParent, SandboxChild],
        activities=[echo],
        workflow_runner=runner,
    ):
        result = await client.execute_workflow(SandboxParent.run, "hi", id=wid, task_queue=queue)
    return result, [entry.replace(wid, "<wf>").replace(queue, "<tq>") for entry in seen]


async def test_fast_runner_gives_the_codec_the_sdk_runners_contexts(
    env: WorkflowEnvironment,
) -> None:
    fast_result, fast_seen = await _run(env, FastContextSandboxRunner())
    sdk_result, sdk_seen = await _run(env, SandboxedWorkflowRunner())

    assert fast_result == sdk_result
    assert fast_result[:3] == ["HI", "HI-LOCAL", "child:hi"]
    # Workflow code still runs in the sandbox: the restricted call was refused.
    assert fast_result[3] == "RestrictedWorkflowAccessError"
    # Each payload met the same context under both runners (activity, local activity and
    # child commands each have their own).
    assert Counter(fast_seen) == Counter(sdk_seen)
    kinds = {entry.split("(")[0] for entry in fast_seen}
    assert {
        "encode:ActivitySerializationContext",
        "decode:ActivitySerializationContext",
        "encode:WorkflowSerializationContext",
    } <= kinds


def test_the_sdk_runner_is_used_when_asked_for() -> None:
    assert isinstance(workflow_runner(), FastContextSandboxRunner)
    plain = workflow_runner(fast=False)
    assert type(plain) is SandboxedWorkflowRunner


async def test_a_failing_workflow_fails_the_same_way(env: WorkflowEnvironment) -> None:
    """A workflow error travels through the same contexts (failure payloads included)."""

    async def run(runner: WorkflowRunner) -> Any:
        queue = f"tq-sandbox-{uuid.uuid4().hex[:8]}"
        async with Worker(
            env.client, task_queue=queue, workflows=[SandboxFails], workflow_runner=runner
        ):
            try:
                await env.client.execute_workflow(
                    SandboxFails.run, id=f"sandbox-fail-{uuid.uuid4().hex[:8]}", task_queue=queue
                )
            except Exception as err:
                return (type(err).__name__, str(getattr(err, "cause", err)))
        return None

    assert await run(FastContextSandboxRunner()) == await run(SandboxedWorkflowRunner())
    assert (await run(FastContextSandboxRunner()))[1] == "refused on purpose"


@workflow.defn(name="SandboxTestFails")
class SandboxFails:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("refused on purpose", non_retryable=True)
