"""Log lines carry the same fields in both formats (ACTCORE_LOG_FORMAT json or text)."""

from __future__ import annotations

import io
import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from activity_core.logs import JsonFormatter, TextFormatter


def _line(formatter: logging.Formatter, **extra: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    log = logging.getLogger("activity_core.events.router.test")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    log.info("event routed", extra=extra)
    return stream.getvalue().strip()


def test_text_lines_keep_every_field_the_json_lines_have() -> None:
    fields = {"event_id": "evt-42", "matched": 2, "started": "activity-run-a b"}
    as_json = json.loads(_line(JsonFormatter(), **fields))
    as_text = _line(TextFormatter(), **fields)
    for key, value in fields.items():
        assert as_json[key] == value
        shown = f'"{value}"' if " " in str(value) else str(value)
        assert f"{key}={shown}" in as_text, as_text
    assert " INFO activity_core.events.router.test: event routed " in as_text


def test_both_formats_name_the_trace_of_the_current_span() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("run") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        assert json.loads(_line(JsonFormatter()))["trace_id"] == trace_id
        assert f"trace_id={trace_id}" in _line(TextFormatter())
