"""What every command shares: tables for people, and the definitions in force it works on
(:mod:`activity_core.catalog`, any degraded answer said on stderr)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from activity_core.catalog import Catalog, View
from activity_core.domain import ActivityDefinition

UNBOUNDED = 10_000
"""Width of a table nobody asked to fit (``--wide``, or output to a pipe or file)."""
GAP = 2
"""Spaces between columns."""


def output_width(wide: bool = False) -> int:
    """Columns a table may use: the terminal's (or ``COLUMNS``), unbounded when ``wide``
    or when nothing says (a pipe to ``grep`` gets whole cells)."""
    if wide:
        return UNBOUNDED
    columns = os.environ.get("COLUMNS", "")
    if columns.isascii() and columns.isdigit() and int(columns) > 20:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return UNBOUNDED


def cell(value: Any) -> str:
    """A value as a table cell: ``-`` for nothing, times to the second in UTC."""
    if value is None or value == "":
        return "-"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return str(value)


def _fit(
    natural: list[int], floors: list[int], keep: list[bool], width: int, gap: int
) -> list[int]:
    """Column widths within ``width``: the shortenable columns give way first (widest
    first, not below their floor), then the kept ones (they wrap, so down to 12)."""
    widths = list(natural)
    excess = sum(widths) + gap * (len(widths) - 1) - width
    for kept in (False, True):
        while excess > 0:
            movable = [
                i
                for i, w in enumerate(widths)
                if keep[i] is kept and w > (max(12, floors[i]) if kept else floors[i])
            ]
            if not movable:
                break
            widest = max(movable, key=lambda i: widths[i])
            widths[widest] -= 1
            excess -= 1
    return widths


def print_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    keep: Collection[str] = (),
    wide: bool = False,
    titles: dict[str, str] | None = None,
    floors: dict[str, int] | None = None,
) -> None:
    """Left-aligned columns under upper-case headings, within the output's width.

    When the table does not fit, the other columns are shortened with an ellipsis (the
    widest first, never below their heading); then the columns in ``keep`` (ids one
    copies into the next command) wrap onto more lines, keeping every character.
    ``wide`` never shortens anything. ``floors``: narrowest width of a column (default:
    its heading, at least 6).
    """
    heads = [(titles or {}).get(c, c.replace("_", " ").upper()) for c in columns]
    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    natural = [
        max([cell_len(h), *(cell_len(row[i]) for row in cells)]) for i, h in enumerate(heads)
    ]
    floor_of = floors or {}
    lows = [
        min(natural[i], floor_of.get(c, max(cell_len(heads[i]), 6))) for i, c in enumerate(columns)
    ]
    kept = [c in keep for c in columns]
    widths = _fit(natural, lows, kept, output_width(wide), GAP)
    table = Table(
        box=None, pad_edge=False, show_edge=False, header_style="bold", padding=(0, GAP, 0, 0)
    )
    for head, w, k in zip(heads, widths, kept, strict=True):
        table.add_column(head, width=w, overflow="fold" if k else "ellipsis", no_wrap=not k)
    for row in cells:
        table.add_row(*row)
    console = Console(width=UNBOUNDED, color_system=None, highlight=False, soft_wrap=False)
    with console.capture() as captured:
        console.print(table)
    print("\n".join(line.rstrip() for line in captured.get().splitlines()))


def said(view: View) -> View:
    """``view``, after saying on stderr where it comes from when that is not the registry
    (and which files were left out)."""
    if view.degraded:
        print(f"note: {view.degraded}", file=sys.stderr)
    for problem in view.problems:
        print(f"warning: left out: {problem}", file=sys.stderr)
    return view


async def in_force(catalog: Catalog, key: str) -> ActivityDefinition:
    """The definition named ``key`` in force (raises DefinitionNotFound: exit 2, the known
    names listed); a degraded answer is said on stderr."""
    entry = await catalog.entry(key)
    if catalog.degraded:
        print(f"note: {catalog.degraded}", file=sys.stderr)
    return entry.definition
