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

import os

from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor

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
    """The Temporal tracing interceptor, with spans for schedule-started runs too."""
    return TracingInterceptor(always_create_workflow_spans=True)
