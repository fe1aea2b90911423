"""Objectives and the 30-day error budget, judged from ledger rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from activity_core.domain import ActivityDefinition, DeliveryRecord, RunRecord
from activity_core.domain.objective import Objective
from activity_core.domain.service_level import budget

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _run(day: int, state: str = "completed", outcome: str | None = "ran") -> RunRecord:
    fire = NOW - timedelta(days=day)
    return RunRecord(
        run_id=f"run-{day}",
        activity_id="a",
        activity_name="digest",
        state=state,  # type: ignore[arg-type]
        outcome=outcome,
        scheduled_for=fire,
        updated_at=fire,
    )


def _delivered(day: int, after: timedelta, state: str = "delivered") -> DeliveryRecord:
    fire = NOW - timedelta(days=day)
    return DeliveryRecord(
        workflow_id=f"delivery-run-{day}-hub",
        run_id=f"run-{day}",
        activity_id="a",
        activity_name="digest",
        sink="hub",
        state=state,
        delivered_at=fire + after if state == "delivered" else None,
        updated_at=fire + after,
    )


@pytest.mark.parametrize(
    ("text", "target", "seconds"),
    [("99% delivered within 2h", 0.99, 7200), ("99.9 % Delivered Within 30m", 0.999, 1800)],
)
def test_objectives_read_as_written(text: str, target: float, seconds: int) -> None:
    o = Objective.parse(text)
    assert o.target == pytest.approx(target) and o.within == timedelta(seconds=seconds)


def test_a_bad_objective_in_a_definition_names_the_form() -> None:
    with pytest.raises(ValidationError, match="99% delivered within 2h"):
        ActivityDefinition.model_validate(
            {
                "name": "x",
                "handler": "static_report",
                "trigger_config": {"trigger_type": "manual"},
                "watch": {"objective": "fast please"},
            }
        )


def test_the_budget_counts_late_dead_and_failed_fires_and_leaves_chosen_skips_out() -> None:
    objective = Objective.parse("90% delivered within 2h")
    runs = [_run(d) for d in range(1, 21)]  # 20 daily fires, all delivered in 10 min ...
    deliveries = {r.run_id: [_delivered(d, timedelta(minutes=10))] for d, r in enumerate(runs, 1)}
    deliveries["run-3"] = [_delivered(3, timedelta(hours=3))]  # ... but one 3 h late
    deliveries["run-4"] = [_delivered(4, timedelta(hours=1), state="dead")]  # one dead
    runs.append(_run(25, outcome="could_not_run"))  # one could not run
    runs.append(_run(26, outcome="skipped_missed"))  # chosen by the policy: not counted
    runs.append(_run(40))  # outside the 30 days
    runs.append(_run(0))  # fired at noon today: its 2 h are not over
    b = budget(objective, runs, deliveries, NOW)
    assert (b.good, b.total) == (18, 21)
    # 3 bad of 21 against 10% allowed (2.1): overspent.
    assert b.left is not None and b.left == pytest.approx(1 - 3 / 2.1)
    assert "exhausted" in b.describe() and "85.7% over 30 days (18/21)" in b.describe()
    kind = budget(Objective.parse("80% delivered within 2h"), runs, deliveries, NOW)
    assert kind.left == pytest.approx(1 - 3 / (0.2 * 21))
    assert "29% of the budget left" in kind.describe()
    assert budget(objective, [], {}, NOW).describe().endswith("no fire judged in 30 days yet")
