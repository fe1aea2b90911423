"""OpenTelemetry tracing through Temporal's interceptor, configured by the ``OTEL_*``
environment as the OpenTelemetry specification describes it.

Tracing is on when the environment asks for it: ``OTEL_TRACES_EXPORTER`` (``otlp``,
``console``...), ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``;
or ``ACTCORE_TRACE_CONSOLE`` (spans printed). The OpenTelemetry SDK then configures itself
(``opentelemetry-distro``): exporter and protocol (``OTEL_EXPORTER_OTLP_PROTOCOL``,
``http/protobuf`` unless set, ``grpc`` supported), endpoint, headers, sampler, resource
(``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``; ``service.name`` defaults to
``activity-core-worker``), ``OTEL_SDK_DISABLED``; metrics and logs go over OTLP only when
``OTEL_METRICS_EXPORTER`` / ``OTEL_LOGS_EXPORTER`` ask. Installed instrumentations are
applied (httpx: every request to a sink or State Hub is a client span). Workflow spans are
created for every run, schedule-started ones included.
"""

from __future__ import annotations

import hashlib
import os
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from temporalio import workflow
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor
from temporalio.worker import WorkflowInterceptorClassInput

from activity_core.errors import TelemetryError

DEFAULT_SERVICE_NAME = "activity-core-worker"
ASKING = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)
"""Any of these set: the operator wants traces."""


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() == "true"


def _names_service() -> bool:
    if os.environ.get("OTEL_SERVICE_NAME", "").strip():
        return True
    pairs = os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")
    return any(p.split("=", 1)[0].strip() == "service.name" for p in pairs)


def configure_tracing(console: bool = False) -> bool:
    """Let the OpenTelemetry SDK configure itself from the environment, once per process.

    Returns:
        Whether tracing is on.

    Raises:
        TelemetryError: The environment names an exporter that is not installed.
    """
    env = os.environ
    if _flag("OTEL_SDK_DISABLED"):
        return False
    if not (console or any(env.get(v, "").strip() for v in ASKING)):
        return False
    if console:
        env.setdefault("OTEL_TRACES_EXPORTER", "console")
    if env.get("OTEL_TRACES_EXPORTER", "").strip() == "none":
        return False
    # Where the environment is silent, the specification's defaults (the distro would
    # choose grpc and also export metrics and logs).
    env.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    env.setdefault("OTEL_METRICS_EXPORTER", "none")
    env.setdefault("OTEL_LOGS_EXPORTER", "none")
    if not _names_service():
        env["OTEL_SERVICE_NAME"] = DEFAULT_SERVICE_NAME
    from opentelemetry.instrumentation.auto_instrumentation import initialize

    try:
        initialize(swallow_exceptions=False)
    except (RuntimeError, ValueError, ImportError) as exc:
        raise TelemetryError(f"OpenTelemetry could not be configured from OTEL_*: {exc}") from exc
    return True


def tracing_interceptors(console: bool = False) -> list[Interceptor]:
    """Configure tracing from the environment; the Temporal interceptors it needs."""
    return [interceptor()] if configure_tracing(console) else []


def interceptor() -> TracingInterceptor:
    """The Temporal tracing interceptor: one trace per workflow execution however it was
    started (schedule, CLI, Web UI: no caller's span to join)."""
    return RunTracingInterceptor()


Carrier = dict[str, str | list[str]]
"""A text-map carrier as the SDK's tracing interceptor passes it."""
ROOT_STATE = "actcore"
"""``tracestate`` key of the context a workflow makes up when its start carried none; its
value is the made-up span's id (the state is passed on to children, the span id is not)."""
_FIXED: ContextVar[tuple[int, int] | None] = ContextVar("actcore_fixed_ids", default=None)


def run_root_ids(workflow_id: str, first_run_id: str) -> tuple[int, int]:
    """(trace id, span id) of the root span of a workflow execution started without a
    trace context: the same on every worker and every replay, never zero."""
    digest = hashlib.sha256(f"{workflow_id}/{first_run_id}".encode()).digest()
    return int.from_bytes(digest[:16], "big") or 1, int.from_bytes(digest[16:24], "big") or 1


class _FixedIds(IdGenerator):
    """The provider's id generator, except while a run's root span is being made."""

    def __init__(self, inner: IdGenerator) -> None:
        self._inner = inner

    def generate_span_id(self) -> int:
        fixed = _FIXED.get()
        return fixed[1] if fixed is not None else self._inner.generate_span_id()

    def generate_trace_id(self) -> int:
        fixed = _FIXED.get()
        return fixed[0] if fixed is not None else self._inner.generate_trace_id()

    def is_trace_id_random(self) -> bool:
        return _FIXED.get() is None and self._inner.is_trace_id_random()


class RunTracingWorkflowInterceptor(TracingWorkflowInboundInterceptor):
    """A workflow started without a trace context gets one made from its id: its own
    spans, its activities' and its children's all join one trace, whose root span the
    worker emits with that id when the workflow's first span is made."""

    def _load_workflow_context_carrier(self) -> Carrier | None:
        carrier = super()._load_workflow_context_carrier()
        if carrier:
            return carrier
        info = workflow.info()
        trace_id, span_id = run_root_ids(info.workflow_id, info.first_execution_run_id)
        self._workflow_context_carrier = {
            "traceparent": f"00-{trace_id:032x}-{span_id:016x}-01",
            "tracestate": f"{ROOT_STATE}={span_id:016x}",
        }
        return self._workflow_context_carrier


def _made_up(carrier: Carrier) -> bool:
    """Whether a carrier is the context a workflow made up for itself (not one passed on
    to a child, which keeps the trace state but has another parent span)."""
    parts = str(carrier.get("traceparent", "")).split("-")
    state = str(carrier.get("tracestate", ""))
    return len(parts) == 4 and f"{ROOT_STATE}={parts[2]}" in state.split(",")


class RunTracingInterceptor(TracingInterceptor):
    """:class:`TracingInterceptor` with workflow spans always made, and a root span for
    each workflow execution that had no caller's span."""

    def __init__(self) -> None:
        provider = trace.get_tracer_provider()
        self._roots = isinstance(provider, TracerProvider)
        if isinstance(provider, TracerProvider) and not isinstance(
            provider.id_generator, _FixedIds
        ):
            # The SDK types it as its default generator; any IdGenerator is accepted.
            provider.id_generator = _FixedIds(provider.id_generator)  # type: ignore[assignment]
        super().__init__(trace.get_tracer(__name__), always_create_workflow_spans=True)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)
        return RunTracingWorkflowInterceptor

    def _completed_workflow_span(self, params: Any) -> Carrier | None:
        if self._roots and params.name.startswith("RunWorkflow:") and _made_up(params.context):
            self._root_span(params)
        carrier: Carrier | None = super()._completed_workflow_span(params)
        return carrier

    def _root_span(self, params: Any) -> None:
        """The made-up parent as a real span, so the trace has its root."""
        _, trace_hex, span_hex, _ = str(params.context["traceparent"]).split("-")
        token = _FIXED.set((int(trace_hex, 16), int(span_hex, 16)))
        try:
            name = params.name.removeprefix("RunWorkflow:")
            workflow_id = params.attributes.get("temporalWorkflowID", "")
            span = self.tracer.start_span(
                f"Run:{name} {workflow_id}",
                Context(),
                attributes=params.attributes,
                start_time=params.time_ns,
                kind=SpanKind.INTERNAL,
            )
            span.end(end_time=params.time_ns)
        finally:
            _FIXED.reset(token)


def remote_parent(trace_id: str) -> Any:
    """A remote parent with the envelope's trace id (32 hex digits, dashes ignored)."""
    digits = trace_id.replace("-", "").lower()
    if len(digits) != 32:
        return None
    try:
        value = int(digits, 16)
    except ValueError:
        return None
    if value == 0:
        return None
    parent = SpanContext(
        trace_id=value,
        span_id=int(digits[:16], 16) or 1,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))
