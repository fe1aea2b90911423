"""Turn pydantic validation errors into ``<file>: <field>: <what is wrong>`` lines. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_core import ErrorDetails

_TRIGGER_TAGS = {"cron", "interval", "event", "manual"}
_SINK_TAGS = {"working_memory", "state_hub_progress", "webhook"}


def field_path(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    prev: list[int | str] = []
    for item in loc:
        skip = (prev[-1:] == ["trigger_config"] and item in _TRIGGER_TAGS) or (
            len(prev) >= 2
            and prev[-2] == "sinks"
            and isinstance(prev[-1], int)
            and item in _SINK_TAGS
        )
        prev.append(item)
        if skip:
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def location(err: ErrorDetails) -> str:
    path = field_path(err["loc"])
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        discriminator = str((err.get("ctx") or {}).get("discriminator", "")).strip("'")
        path = f"{path}.{discriminator}" if discriminator else path
    return path


def message(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown field (remove it or check its spelling)"
    if kind == "missing":
        return "required field is missing"
    ctx = err.get("ctx") or {}
    if kind == "union_tag_invalid":
        return f"{ctx.get('tag')!r} is not one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"the {str(ctx.get('discriminator', '')).strip(chr(39))} field is missing"
    if kind == "string_pattern_mismatch":
        return f"{err.get('input')!r} does not have the expected form ({ctx.get('pattern')})"
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if kind in {"string_type", "int_type", "int_parsing", "float_type", "bool_type", "dict_type"}:
        msg += f" (got {err.get('input')!r})"
    return msg


def error_lines(exc: ValidationError, label: str) -> list[str]:
    """One ``<label>: <field>: <message>`` line per error of ``exc``."""
    return [f"{label}: {location(e)}: {message(e)}" for e in exc.errors()]
