"""Backfill plans in the registry database: store, read, and mark one started (once)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from activity_core.domain.backfill import BackfillPlan
from activity_core.store.engine import Store
from activity_core.store.models import BackfillPlanRow


class Backfills:
    """The ``backfill_plans`` table."""

    def __init__(self, store: Store) -> None:
        """Read and write ``store``'s backfill plans."""
        self._store = store

    async def add(self, plan: BackfillPlan) -> None:
        """Store a new plan."""
        async with self._store.sessions.begin() as session:
            session.add(
                BackfillPlanRow(
                    plan_id=plan.plan_id,
                    state=plan.state,
                    created_by=plan.created_by,
                    created_at=plan.created_at,
                    started_by=plan.started_by,
                    started_at=plan.started_at,
                    body=plan.model_dump(mode="json"),
                )
            )

    async def get(self, plan_id: str) -> BackfillPlan | None:
        """The plan ``plan_id`` (None when there is none)."""
        async with self._store.sessions() as session:
            row = await session.get(BackfillPlanRow, plan_id)
        return None if row is None else _plan(row)

    async def start(self, plan_id: str, by: str, at: datetime) -> BackfillPlan | None:
        """Mark a ``planned`` plan started; None when it is not (already started, or none):
        of two approvals at once only one wins."""
        async with self._store.sessions.begin() as session:
            done = await session.execute(
                update(BackfillPlanRow)
                .where(BackfillPlanRow.plan_id == plan_id, BackfillPlanRow.state == "planned")
                .values(state="started", started_by=by, started_at=at)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return None
        return await self.get(plan_id)

    async def unstart(self, plan_id: str) -> None:
        """Put a plan back to ``planned`` (its start did not reach Temporal)."""
        async with self._store.sessions.begin() as session:
            await session.execute(
                update(BackfillPlanRow)
                .where(BackfillPlanRow.plan_id == plan_id)
                .values(state="planned", started_by=None, started_at=None)
            )

    async def recent(self, limit: int = 50) -> list[BackfillPlan]:
        """The newest plans first."""
        stmt = select(BackfillPlanRow).order_by(BackfillPlanRow.created_at.desc()).limit(limit)
        async with self._store.sessions() as session:
            return [_plan(r) for r in (await session.scalars(stmt)).all()]


def _plan(row: BackfillPlanRow) -> BackfillPlan:
    return BackfillPlan.model_validate(
        {**row.body, "state": row.state, "started_by": row.started_by, "started_at": row.started_at}
    )
