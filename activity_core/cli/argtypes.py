"""Typed command-line values: a bad one is a usage error (exit 2) naming the option and the
expected form, never a traceback."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from datetime import UTC, date, datetime

from activity_core.domain.mute import parse_duration
from activity_core.services.runs import NAME


def iso_date(text: str) -> date:
    """``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a date; write YYYY-MM-DD, e.g. 2026-11-23"
        ) from None


def iso_datetime(text: str) -> datetime:
    """``YYYY-MM-DD`` or an ISO 8601 time (UTC when no offset is given)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a date or time; write YYYY-MM-DD or 2026-11-23T07:30:00Z"
        ) from None


def number(low: float, high: float = math.inf, *, integer: bool = False) -> Callable[[str], float]:
    """A finite number in ``[low, high]`` (an integer when asked)."""

    def parse(text: str) -> float:
        try:
            value: float = int(text) if integer else float(text)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not {kind}") from None
        if not math.isfinite(value) or not low <= value <= high:
            upper = "" if math.isinf(high) else f" and at most {high:g}"
            raise argparse.ArgumentTypeError(f"{text[:40]} must be at least {low:g}{upper}")
        return value

    return parse


def whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer in ``[low, high]``."""
    check = number(low, math.inf if high is None else high, integer=True)
    return lambda text: int(check(text))


PORT = whole(1, 65535)


def name(text: str) -> str:
    """A definition or sink name."""
    if not NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a definition name (letters, digits, '-', '_', '.')"
        )
    return text


def moment(text: str) -> datetime:
    """An ISO 8601 time (UTC when no offset is given) or a duration ago (``6h``, ``2d``)."""
    try:
        return datetime.now(UTC) - parse_duration(text)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a time; write 2026-11-23T07:30:00Z, 2026-11-23, or a "
            "duration ago such as 6h or 2d"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
