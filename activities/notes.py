"""Working-memory notes: written atomically, once per run (or alert key), never overwritten."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def short_id(value: str) -> str:
    """Eight hex characters identifying a run id (or any key) in a file name."""
    return hashlib.sha256(value.encode()).hexdigest()[:8]


def safe_component(value: str) -> str:
    """A file-name component with only letters, digits, ``-`` and ``_`` (never empty)."""
    cleaned = _UNSAFE.sub("-", value).strip("-.")
    return cleaned[:80] or "x"


def within(root: Path, *parts: str) -> Path:
    """``root/parts...``, refusing anything that would land outside ``root``.

    Raises:
        ValueError: The result escapes ``root``.
    """
    base = root.resolve()
    target = base.joinpath(*parts).resolve()
    if target != base and base not in target.parents:
        raise ValueError(f"refusing to write outside {base}: {target}")
    return target


def render(front: dict[str, Any], body: str) -> str:
    """A markdown document with YAML front matter."""
    head = yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip()
    return f"---\n{head}\n---\n\n{body.rstrip()}\n"


def read_front_matter(path: Path) -> dict[str, Any]:
    """The YAML front matter of a note (empty when there is none)."""
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    if end < 0:
        return {}
    data = yaml.safe_load(text[4:end])
    return data if isinstance(data, dict) else {}


def write_once(path: Path, content: str) -> Literal["written", "exists"]:
    """Write ``content`` to ``path`` atomically unless the file already exists.

    The content goes to a temporary file first and is linked into place, so a
    reader never sees a half-written note and an existing note is never replaced.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".md")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return "exists"
        return "written"
    finally:
        os.unlink(tmp)


def report_note_name(activity_name: str, scheduled_for: datetime, zone: str, run_id: str) -> str:
    """``<definition>-YYYY-MM-DD-<short run id>.md`` (date in the definition's zone)."""
    day = scheduled_for.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d")
    return f"{safe_component(activity_name)}-{day}-{short_id(run_id)}.md"


def data_block(data: dict[str, Any]) -> str:
    """The machine-readable part of a note."""
    if not data:
        return ""
    return "\n\n## Data\n\n```json\n" + json.dumps(data, indent=2, default=str) + "\n```\n"
