"""A service-level objective as a definition writes it: ``99% delivered within 2h``.
Pure, and free of the other models (the definition validates with it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_OBJECTIVE = re.compile(
    r"\s*(\d{1,2}(?:\.\d+)?)\s*%\s+delivered\s+within\s+(\d+)\s*([smhd])\s*", re.I
)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Objective:
    """``target`` of the fires delivered to every sink within ``within`` of the fire."""

    target: float
    within: timedelta

    @classmethod
    def parse(cls, text: str) -> Objective:
        """``"99% delivered within 2h"`` (or ``99.9%``, ``30m``, ``1d``).

        Raises:
            ValueError: Not of that form, or a target outside (0, 100).
        """
        m = _OBJECTIVE.fullmatch(text)
        if m is None:
            raise ValueError(
                f"{text[:60]!r} is not an objective: write e.g. '99% delivered within 2h'"
            )
        target = float(m.group(1)) / 100
        if not 0 < target < 1:
            raise ValueError(f"{text!r}: the target is a percentage above 0 and below 100")
        return cls(target, timedelta(seconds=int(m.group(2)) * _UNIT_S[m.group(3).lower()]))
