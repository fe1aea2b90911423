"""The runbook as a page of the API (``GET /runbook``): the board's "what to do" links
land on its sections. Rendered from ``docs/runbook.md`` (packaged with the wheel), raw
HTML in it left as text; each heading has GitHub's anchor, so the same links work on a
copy of the runbook hosted elsewhere (``ACTCORE_RUNBOOK_URL``)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from markdown_it import MarkdownIt

_HERE = Path(__file__).resolve().parent
CANDIDATES = (_HERE / "runbook.md", _HERE.parents[1] / "docs" / "runbook.md")
"""The packaged copy (a wheel), then the checkout's (an editable install)."""


def heading_anchor(text: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to ``-``."""
    kept = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return kept.replace(" ", "-")


def runbook_source() -> str | None:
    """The runbook's markdown, or None when neither copy is here."""
    for path in CANDIDATES:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


def anchors(markdown: str) -> list[str]:
    """The anchors of every heading of a markdown text."""
    md = MarkdownIt("commonmark", {"html": False})
    tokens = md.parse(markdown)
    return [
        heading_anchor(tokens[i + 1].content)
        for i, t in enumerate(tokens)
        if t.type == "heading_open"
    ]


@functools.lru_cache(maxsize=1)
def runbook_html() -> str | None:
    """The runbook as HTML with an ``id`` on each heading (None without a runbook)."""
    source = runbook_source()
    if source is None:
        return None
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(source)
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            token.attrSet("id", heading_anchor(tokens[i + 1].content))
    html: str = md.renderer.render(tokens, md.options, {})
    return html
