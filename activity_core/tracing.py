"""OpenTelemetry tracing through Temporal's interceptor.

``OTEL_EXPORTER_OTLP_ENDPOINT`` set: spans go over OTLP/HTTP (the standard OTel
variables apply: headers, service name via ``OTEL_SERVICE_NAME``). ``ACTCORE_TRACE_CONSOLE``
true: spans are printed. Neither: no tracing. Workflow spans are created for every run,
schedule-started ones included; the delivery activity's HTTP call is a child span.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor


def tracing_interceptors(console: bool = False) -> list[Interceptor]:
    """Install a tracer provider when tracing is configured; return the interceptors."""
    exporter: SpanExporter | None = None
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    elif console:
        exporter = ConsoleSpanExporter()
    if exporter is None:
        return []
    name = os.environ.get("OTEL_SERVICE_NAME", "activity-core-worker")
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return [interceptor()]


def interceptor() -> TracingInterceptor:
    """The Temporal tracing interceptor, with spans for schedule-started runs too."""
    return TracingInterceptor(always_create_workflow_spans=True)
