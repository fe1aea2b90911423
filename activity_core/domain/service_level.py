"""Service levels: a definition's objective (``watch.objective: "99% delivered within
2h"``) and the error budget left over 30 days, judged from the run ledger. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from activity_core.domain.ledger import DeliveryRecord, RunRecord
from activity_core.domain.objective import Objective
from activity_core.domain.run import SUCCESS_OUTCOMES, RunOutcome

WINDOW = timedelta(days=30)
_CHOSEN = frozenset(
    o.value for o in (RunOutcome.SKIPPED_MISSED, RunOutcome.SUPERSEDED, RunOutcome.SKIPPED_TOO_LATE)
)
"""Outcomes a policy chose: not counted either way."""


@dataclass(frozen=True)
class Budget:
    """How the last 30 days measured up against an objective."""

    good: int
    total: int
    objective: Objective

    @property
    def ratio(self) -> float | None:
        """Share of judged fires that met the objective (None: none judged yet)."""
        return self.good / self.total if self.total else None

    @property
    def left(self) -> float | None:
        """Share of the error budget left (1.0 untouched, 0 spent, negative overspent)."""
        if not self.total:
            return None
        allowed = (1 - self.objective.target) * self.total
        return 1 - (self.total - self.good) / allowed

    def describe(self) -> str:
        """One line for ``actcore status``."""
        o = self.objective
        head = f"objective {o.target * 100:g}% delivered within {_span(o.within)}"
        if self.ratio is None or self.left is None:
            return f"{head}: no fire judged in 30 days yet"
        state = "exhausted" if self.left <= 0 else f"{self.left * 100:.0f}% of the budget left"
        return f"{head}: {self.ratio * 100:.1f}% over 30 days ({self.good}/{self.total}), {state}"


def budget(
    objective: Objective,
    runs: list[RunRecord],
    deliveries: dict[str, list[DeliveryRecord]],
    now: datetime,
) -> Budget:
    """Judge each run of the last 30 days whose deadline has passed: good when it did its
    work and every delivery of its report was delivered within the objective's time."""
    good = total = 0
    for run in runs:
        fire = run.scheduled_for
        if fire is None or fire < now - WINDOW or fire + objective.within > now:
            continue
        if run.outcome in _CHOSEN:
            continue
        total += 1
        if run.state != "completed" or run.outcome not in {o.value for o in SUCCESS_OUTCOMES}:
            continue
        mine = deliveries.get(run.run_id, [])
        if all(
            d.state == "delivered"
            and d.delivered_at is not None
            and d.delivered_at - fire <= objective.within
            for d in mine
        ):
            good += 1
    return Budget(good, total, objective)


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
