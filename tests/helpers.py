"""Test helpers in the SDK's style: a real dev server binary, ``assert_eventually``,
``new_worker``, a worker stack on fresh task queues, and a restartable real-time server.

Fixtures live in ``conftest.py``; tests import these helpers from here.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from google.protobuf.duration_pb2 import Duration
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activity_core.dev import processes
from activity_core.domain import DeliveryStatus, RunInput, RunResult
from activity_core.domain import search_attributes as sa
from activity_core.domain.constants import ORCHESTRATOR_TQ, TASK_EXECUTION_TQ
from activity_core.domain.report import delivery_workflow_id
from activity_core.errors import DevStackError
from activity_core.loader import read_definitions
from activity_core.settings import Settings
from activity_core.store import Ledger, Registry, Store, migrate
from activity_core.temporal_client import SINGLE_PARTITION_FLAGS, connect
from activity_core.worker import Workers, build_workers
from workflows.activity_run import ActivityRunWorkflow
from workflows.report_delivery import ReportDeliveryWorkflow

T = TypeVar("T")

#: Lowered so that continue-as-new is exercised by multi-hour outages in tests.
SUGGEST_CONTINUE_AS_NEW_AT = 50


def temporal_binary() -> str:
    """The ``temporal`` CLI the dev stack would use (the tests cannot run without it)."""
    try:
        return processes.temporal_binary()
    except DevStackError as exc:
        pytest.exit(str(exc), 2)


async def fresh_namespace(client: Client, prefix: str) -> Client:
    """A client on a new namespace of ``client``'s server, with our search attributes: a
    Temporal that has seen none of the other tests' workflows (no watchdog pass, no run)."""
    namespace = f"{prefix}-{uuid.uuid4().hex[:8]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={k.name: k.indexed_value_type.value for k in sa.ALL},
        )
    )
    return await Client.connect(
        client.service_client.config.target_host,
        namespace=namespace,
        data_converter=pydantic_data_converter,
    )


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


def new_worker(
    client: Client,
    *workflows: type,
    activities: Sequence[Callable[..., Any]] = (),
    task_queue: str | None = None,
    **options: Any,
) -> Worker:
    """A worker on a fresh task queue (``tq-<uuid>``) unless one is given.

    Register a stand-in under an activity's real name to mock it.
    """
    return Worker(
        client,
        task_queue=task_queue or f"tq-{uuid.uuid4()}",
        workflows=list(workflows),
        activities=list(activities),
        **options,
    )


@dataclass
class Stack:
    """A worker on fresh task queues with its own definitions and working-memory dirs."""

    env: WorkflowEnvironment
    client: Client
    settings: Settings
    workflow_tq: str
    activity_tq: str
    store: Store | None = None
    """The worker's registry and ledger (SQLite in the test's directory by default)."""
    workers: Workers | None = None
    """The running workers (their sink-queue pollers among them)."""

    @property
    def ledger(self) -> Ledger:
        assert self.store is not None
        return Ledger(self.store)

    @property
    def definitions_dir(self) -> Path:
        return self.settings.definitions_dir

    @property
    def working_memory(self) -> Path:
        return self.settings.working_memory_dir

    @asynccontextmanager
    async def api(self, token: str) -> AsyncIterator[httpx.AsyncClient]:
        """The REST API over the stack's registry and server, with ``token`` as the write
        token (and sent with every request)."""
        from activity_core.api import create_app

        settings = Settings(
            home=self.settings.home,
            definitions_dir=self.definitions_dir,
            working_memory_dir=self.working_memory,
            api_token=token,
        )
        app = create_app(settings, store=self.store, client=self.client)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                http.headers["Authorization"] = f"Bearer {token}"
                yield http

    async def actcore(self, *args: str, columns: int = 100) -> subprocess.CompletedProcess[str]:
        """``actcore ARGS`` as an operator runs it, against this server and definitions, in
        a ``columns``-wide terminal; awaited, so this process's worker keeps answering."""
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": self.client.service_client.config.target_host,
            "ACTCORE_DEFINITIONS_DIR": str(self.definitions_dir),
            "ACTCORE_WORKING_MEMORY_DIR": str(self.working_memory),
            "ACTCORE_HOME": str(self.definitions_dir.parent / "cli-home"),
            # The registry the stack's workers read ("none" when the stack has no store).
            "ACTCORE_DB_URL": self.store.url if self.store is not None else "none",
            "ACTCORE_LOG_FORMAT": "text",
            "COLUMNS": str(columns),
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "activity_core.cli",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode is not None
        return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())

    def define(self, name: str, **fields: Any) -> dict[str, Any]:
        """Write ``definitions/<name>.yaml`` (defaults: manual trigger, static report)."""
        body: dict[str, Any] = {
            "name": name,
            "handler": "static_report",
            "trigger_config": {"trigger_type": "manual"},
        }
        body.update(fields)
        if body["handler"] == "static_report" and "params" not in fields:
            body["params"] = {"title": f"{name} report", "body": "all quiet"}
        (self.definitions_dir / f"{name}.yaml").write_text(yaml.safe_dump(body))
        self.import_definitions()
        return body

    def import_definitions(self) -> None:
        """Import the directory's valid files into the stack's registry, as `actcore sync`
        does (a file that fails validation stays out, as it would there)."""
        if self.store is None:
            return
        url = self.store.url

        async def run() -> None:
            store = Store(url)
            try:
                loaded = read_definitions(self.definitions_dir)
                await Registry(store).import_files(
                    loaded.definitions, loaded.sources, "test", event_types=loaded.event_types
                )
            finally:
                await store.close()

        # A thread with its own loop: define() is called from inside the tests' loop.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run()).result()

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
        """The alert notes written so far (not a note being written: its hidden temp file)."""
        alerts = self.working_memory / "alerts"
        if not alerts.exists():
            return []
        return sorted(p for p in alerts.glob("*.md") if not p.name.startswith("."))


@asynccontextmanager
async def running_stack(
    env: WorkflowEnvironment,
    client: Client,
    tmp_path: Path,
    *,
    db_url: str | None = None,
    default_queues: bool = False,
) -> AsyncIterator[Stack]:
    """Workers on fresh task queues, using ``client`` (e.g. one with extra interceptors).

    The store is a migrated SQLite file in ``tmp_path`` unless ``db_url`` names another
    database (``"none"``: no store). ``default_queues``: poll the production queues
    instead, so runs the CLI and the API start (``orchestrator-tq``) are served.
    """
    defs = tmp_path / "definitions"
    defs.mkdir(parents=True)
    settings = Settings(
        home=tmp_path / ".actcore",
        definitions_dir=defs,
        working_memory_dir=tmp_path / "working-memory",
        state_hub_url="http://127.0.0.1:9",
        sink_read_timeout_seconds=1.0,
        db_url=db_url,
    )
    url = settings.database_url()
    store = Store(url) if url else None
    if store is not None and db_url is None:
        await migrate.upgrade(store)
    suffix = uuid.uuid4().hex[:8]
    own = (f"wf-{suffix}", f"act-{suffix}")
    queues = (ORCHESTRATOR_TQ, TASK_EXECUTION_TQ) if default_queues else own
    s = Stack(env, client, settings, *queues, store)
    workers = s.workers = build_workers(
        client,
        settings,
        workflow_task_queue=s.workflow_tq,
        activity_task_queue=s.activity_tq,
        store=store,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(workers.run_until(stop))
    try:
        yield s
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        if store is not None:
            await store.close()


async def run_steps(handle: WorkflowHandle[Any, Any]) -> tuple[list[str], list[str]]:
    """(activities scheduled through a task queue, local activities), by type, in order."""
    remote: list[str] = []
    local: list[str] = []
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            remote.append(event.activity_task_scheduled_event_attributes.activity_type.name)
        elif event.marker_recorded_event_attributes.marker_name == "core_local_activity":
            data = event.marker_recorded_event_attributes.details["data"].payloads[0].data
            local.append(json.loads(data)["activity_type"])
    return remote, local


def actcore_cli(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``actcore ARGS`` in a subprocess, from the repository, with ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "activity_core.cli", *args],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


_PORTS_PER_PROCESS = 5000
_PORT_BASE = 20000
_handed_out: set[int] = set()


def _port_range() -> range:
    """This test process's ports: below the kernel's ephemeral range (32768 and up, where
    ``bind(0)`` picks, for us and for every server we start), and disjoint from the other
    pytest-xdist process's, so a port probed free here cannot be taken by the other
    process before the server that was given it binds it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw") or 0) % 2
    start = _PORT_BASE + index * _PORTS_PER_PROCESS
    return range(start, start + _PORTS_PER_PROCESS - 10)  # room for a port + 2


def free_port() -> int:
    """A loopback port free now and not handed out before by this process."""
    ports = _port_range()
    for _ in range(500):
        port = random.choice(ports)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise AssertionError(f"no free port in {ports.start}-{ports.stop - 1}")


class RestartableServer:
    """``temporal server start-dev`` with a persistent SQLite file and a fixed port."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = db.with_suffix(".log")
        self._started = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> Client:
        """Start the server; a first start whose port was taken in the meantime (it was
        free when chosen) moves to another free port. Restarts keep the port."""
        for _ in range(3):
            try:
                return await self._start()
            except Exception:
                exited = self.proc is not None and self.proc.poll() is not None
                if self._started or not exited:
                    raise
                self.port = free_port()
        return await self._start()

    async def _start(self) -> Client:
        argv = [
            temporal_binary(),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db-filename",
            str(self.db),
            "--log-level",
            "error",
            *sa.dev_server_flags(),
            *SINGLE_PARTITION_FLAGS,
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                client = await connect({"TEMPORAL_ADDRESS": self.address})
                self._started = True
                return client
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                await asyncio.sleep(0.3)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def span_exporter() -> InMemorySpanExporter:
    """A fresh in-memory exporter on the process's tracer provider (installed on first use:
    OpenTelemetry allows one provider per process)."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter
