"""Structured logging: one JSON object per line (or plain text), never secrets.

JSON lines come from python-json-logger: ``ts``, ``level``, ``logger``, ``msg``, every
``extra=`` field (and Temporal's workflow and activity context), ``exc`` for a traceback,
and ``trace_id``/``span_id`` of the current OpenTelemetry span when there is one, so a
log line leads to its trace.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter


class JsonFormatter(_JsonFormatter):
    """python-json-logger's formatter with our field names and the active trace."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={
                "levelname": "level",
                "name": "logger",
                "message": "msg",
                "exc_info": "exc",
            },
            json_default=str,
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_record["ts"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        super().add_fields(log_record, record, message_dict)
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            log_record["trace_id"] = format(span.trace_id, "032x")
            log_record["span_id"] = format(span.span_id, "016x")


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...``: the same fields as the JSON lines
    (every ``extra=``, the trace), for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        # Temporal's loggers already put their context in the message.
        extras = {
            k: v
            for k, v in vars(record).items()
            if k not in _STANDARD and not k.startswith("temporal_")
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            extras["trace_id"] = format(span.trace_id, "032x")
        if not extras:
            return text
        head, sep, rest = text.partition("\n")  # a traceback stays below the fields
        fields = " ".join(f"{k}={_text(v)}" for k, v in extras.items())
        return f"{head} {fields}{sep}{rest}"


def _text(value: Any) -> str:
    shown = str(value)
    return f'"{shown}"' if not shown or any(c.isspace() for c in shown) else shown


def configure(level: str = "INFO", fmt: str = "json") -> None:
    """Configure the root logger once for a process."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Migration chatter ("Context impl SQLiteImpl") on every command that opens the store.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
