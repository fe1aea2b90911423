"""What every command shares: tables for people, and the definitions it works on."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from activity_core.loader import LoadedDefinitions, load_definitions
from activity_core.settings import Settings


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Left-aligned columns under upper-case headings."""
    widths = {c: max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


def definitions(settings: Settings, *, warn: bool = False) -> LoadedDefinitions:
    """Every definition (all-or-nothing); warnings go to stderr when ``warn``."""
    loaded = load_definitions(settings.definitions_dir, settings.activity_timeout_seconds)
    if warn:
        for w in loaded.warnings:
            print(f"warning: {w}", file=sys.stderr)
    return loaded
