"""Reading one YAML or JSON document safely: a regular file, size-capped, no YAML aliases,
no duplicate keys, bounded nesting, no infinite or NaN numbers. Used for definition,
event-type and alert-sink files; the schemas are elsewhere."""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 1_000_000
"""Largest file read."""
MAX_DEPTH = 32
"""Deepest nesting of mappings and lists a definition file may have."""
LOOKALIKE = re.compile(r"\.(ya?ml|json)(\.[A-Za-z0-9_-]+|~|\.swp)?$", re.IGNORECASE)
"""Names that look like a definition file in some spelling (``x.YAML``, ``x.yaml.bak``)."""


class _StrictYamlLoader(yaml.SafeLoader):
    """YAML without aliases (no expansion bombs), without duplicate keys, with a depth cap."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.MarkedYAMLError(
                problem="YAML aliases (*name) are not allowed in definitions; write the value out",
                problem_mark=event.start_mark,
            )
        depth = getattr(self, "_depth", 0)
        if depth > MAX_DEPTH:
            raise yaml.MarkedYAMLError(
                problem=f"nested deeper than {MAX_DEPTH} levels",
                problem_mark=self.peek_event().start_mark,  # type: ignore[no-untyped-call]
            )
        self._depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (dict, list)):
                continue  # refused below by the base class as unhashable
            if key in seen:
                raise yaml.MarkedYAMLError(
                    problem=f"key {key!r} appears twice in the same mapping (the second would "
                    "silently replace the first); keep one",
                    problem_mark=key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(
                f"key {key!r} appears twice in the same object (the second would silently "
                "replace the first); keep one"
            )
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON or Temporal can carry; write a finite value")


def _read_bytes(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file. Sockets, FIFOs, devices, directories and
    symbolic-link loops are refused unopened (checked by ``stat`` first), and the file is
    opened non-blocking and checked again before any read (it may change in between)."""
    try:
        before = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError("is a symbolic link loop; remove it or point it at a file") from None
        raise
    if not stat.S_ISREG(before.st_mode):
        raise ValueError("is not a regular file (a socket, pipe, device or directory); remove it")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(
                "is not a regular file (a socket, pipe, device or directory); remove it"
            )
        if info.st_size > limit:
            raise ValueError(
                f"file is {info.st_size} bytes; a definition file may be at most {limit}"
            )
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise ValueError(f"file grew past {limit} bytes while it was read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _non_finite(value: Any, path: str = "") -> str | None:
    """The first field holding ``.inf``/``.nan`` (JSON and Temporal cannot carry them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "(top level)"
    if isinstance(value, dict):
        for k, v in value.items():
            found = _non_finite(v, f"{path}.{k}" if path else str(k))
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _non_finite(v, f"{path}[{i}]")
            if found:
                return found
    return None


def read_document(path: Path, limit: int = MAX_FILE_BYTES) -> Any:
    """Parse one YAML or JSON file safely: a regular file, size-capped, no YAML aliases, no
    duplicate keys, nesting at most :data:`MAX_DEPTH`, no infinite or NaN numbers.

    Raises:
        ValueError: What is wrong (with the line for syntax errors) and the fix.
        OSError: The file cannot be opened.
    """
    text = _read_bytes(path, limit).decode("utf-8")
    if not text.strip():
        raise ValueError("file is empty; it should hold one definition (a mapping)")
    if "\x00" in text:
        raise ValueError("file contains NUL characters; is it a text file?")
    try:
        if path.suffix == ".json":
            try:
                raw = json.loads(
                    text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant
                )
            except json.JSONDecodeError as exc:
                raise ValueError(f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
        else:
            try:
                raw = yaml.load(text, Loader=_StrictYamlLoader)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f" at line {mark.line + 1}" if mark is not None else ""
                problem = getattr(exc, "problem", None) or str(exc)
                raise ValueError(f"invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ValueError(f"nested too deeply (at most {MAX_DEPTH} levels)") from None
    bad = _non_finite(raw)
    if bad:
        raise ValueError(
            f"{bad}: .inf and .nan are not numbers JSON or Temporal can carry; write a finite value"
        )
    return raw
