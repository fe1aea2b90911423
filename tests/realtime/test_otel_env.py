"""OpenTelemetry configured only through the OTEL_* environment, as the specification
says: a worker process given just a traces endpoint and resource attributes sends its
workflow, activity and HTTP spans to an OTLP receiver, and its JSON logs carry the
trace ids of those spans."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from activity_core.dev.statehub import StateHub
from activity_core.domain import RunInput
from activity_core.domain.constants import ORCHESTRATOR_TQ
from tests.helpers import RestartableServer, assert_eventually
from workflows.activity_run import ActivityRunWorkflow


class Receiver:
    """An OTLP/HTTP traces endpoint (protobuf), keeping what it receives."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.paths.append(self.path)
                request = ExportTraceServiceRequest.FromString(body)
                for rs in request.resource_spans:
                    resource = {a.key: a.value.string_value for a in rs.resource.attributes}
                    for scope in rs.scope_spans:
                        for span in scope.spans:
                            receiver.spans.append(
                                {
                                    "name": span.name,
                                    "trace_id": span.trace_id.hex(),
                                    "span_id": span.span_id.hex(),
                                    "kind": span.kind,
                                    "resource": resource,
                                    "scope": scope.scope.name,
                                }
                            )
                out = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


async def test_a_worker_traces_to_the_endpoint_the_environment_names(
    tmp_path: Path, receiver: Receiver, hub: StateHub
) -> None:
    server = RestartableServer(tmp_path / "temporal.db")
    client = await server.start()
    defs = tmp_path / "definitions"
    defs.mkdir()
    (defs / "traced.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "traced",
                "handler": "static_report",
                "trigger_config": {"trigger_type": "manual"},
                "sinks": [{"type": "state_hub_progress", "event_type": "otel", "url": hub.url}],
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ACTCORE_TRACE"))} | {
        "TEMPORAL_ADDRESS": server.address,
        "ACTCORE_DEFINITIONS_DIR": str(defs),
        "ACTCORE_WORKING_MEMORY_DIR": str(tmp_path / "notes"),
        "ACTCORE_HOME": str(tmp_path / "home"),
        "SKIP_SCHEDULE_SYNC": "true",
        "ACTCORE_LOG_FORMAT": "json",
        # Only what the specification defines: a traces endpoint and the resource.
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{receiver.url}/v1/traces",
        "OTEL_RESOURCE_ATTRIBUTES": "service.name=triage-worker,deployment.environment=test",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "activity_core.worker"], env=env, stdout=out, stderr=out
        )
    try:
        result = await client.execute_workflow(
            ActivityRunWorkflow.run,
            RunInput(activity_name="traced", trigger="manual"),
            id="otel-traced-run",
            task_queue=ORCHESTRATOR_TQ,
        )
        assert result.outcome.value == "ran"

        def names() -> set[str]:
            return {s["name"] for s in receiver.spans}

        async def traced() -> None:
            assert "RunWorkflow:ActivityRunWorkflow" in names(), names()
            assert "RunActivity:deliver" in names(), names()
            assert any(
                s["scope"].startswith("opentelemetry.instrumentation.httpx") for s in receiver.spans
            ), names()

        await assert_eventually(traced, within=30)
        assert set(receiver.paths) == {"/v1/traces"}
        services = {s["resource"].get("service.name") for s in receiver.spans}
        assert services == {"triage-worker"}  # OTEL_RESOURCE_ATTRIBUTES, not overridden
        assert {s["resource"].get("deployment.environment") for s in receiver.spans} == {"test"}
        run_trace = next(
            s["trace_id"] for s in receiver.spans if s["name"] == "RunWorkflow:ActivityRunWorkflow"
        )
        # The POST to State Hub is a client span in the delivery's trace.
        http = [
            s
            for s in receiver.spans
            if s["scope"].startswith("opentelemetry.instrumentation.httpx")
        ]
        assert http and all(s["kind"] == 3 for s in http)  # SPAN_KIND_CLIENT

        # The worker's JSON log lines name the spans they were written in.
        spans = {s["span_id"]: s for s in receiver.spans}

        async def correlated() -> None:
            lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
            with_trace = [x for x in lines if "trace_id" in x]
            assert with_trace, lines[-5:]
            known = [x for x in with_trace if x["span_id"] in spans]
            assert known, with_trace[:3]
            assert all(spans[x["span_id"]]["trace_id"] == x["trace_id"] for x in known)

        await assert_eventually(correlated, within=15)
        assert run_trace
    finally:
        worker.terminate()
        await asyncio.to_thread(worker.wait, 30)
        server.stop()
