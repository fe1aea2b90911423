"""Workflow code of the issue sink's delivery child: file a run's tasks, remembering per
task what issue-core accepted (the run's hand-over is in ``workflows.handover``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.issues import IssueActivities
    from activities.ledger import LedgerActivities
    from activity_core.domain import (
        AttemptOutcome,
        DeliveryAttemptResult,
        DeliveryInput,
        DeliveryProgress,
        FileTasksInput,
        IssueSink,
    )
    from activity_core.domain.constants import DELIVERY_ATTEMPT_RETRY, TASK_EXECUTION_TQ
    from activity_core.domain.tasks import TaskBatchRecord, task_records
    from workflows.ledger import write_ledger
    from workflows.sink_queue import attempt_on_sink_queue


class TaskFiler:
    """The filing part of a delivery child whose sink is an issue sink."""

    def __init__(self, inp: DeliveryInput, progress: DeliveryProgress) -> None:
        """Serve ``inp`` (its ``tasks``), keeping what was accepted in ``progress``."""
        assert isinstance(inp.sink, IssueSink)
        self._inp = inp
        self._sink: IssueSink = inp.sink
        self._p = progress
        self._recorded: dict[str, str] = {}

    @property
    def total(self) -> int:
        """Tasks in the batch."""
        return len(self._inp.tasks)

    @property
    def done(self) -> int:
        """Tasks issue-core accepted so far (new or already there)."""
        return len(self._p.filed)

    def progress_text(self) -> str:
        """``3 of 5 tasks filed`` (and how many were rejected)."""
        text = f"{self.done} of {self.total} tasks filed"
        if self._p.rejected:
            text += f", {len(self._p.rejected)} rejected"
        return text

    async def attempt(self, timeout_s: float) -> DeliveryAttemptResult:
        """One delivery attempt: file every task not accepted yet, in as many activity
        calls as the batch needs; the result is ``DELIVERED`` only when all are filed."""
        p = self._p
        inp = self._inp
        rejected: dict[str, str] = {}
        while True:
            pending = [t for t in inp.tasks if t.key not in p.filed and t.key not in rejected]
            workflow.set_current_details(
                f"**filing** at `{self._sink.name}`: {self.progress_text()}; "
                f"attempt {p.attempts}\n\nrun: `{inp.run_id}`"
            )
            try:
                result = await attempt_on_sink_queue(
                    IssueActivities.file_tasks,
                    FileTasksInput(
                        sink=self._sink,
                        run_id=inp.run_id,
                        activity_id=inp.activity_id,
                        activity_name=inp.activity_name,
                        tasks=pending,
                        attempt=p.attempts,
                    ),
                    sink=self._sink,
                    fallback_queue=inp.activity_task_queue or TASK_EXECUTION_TQ,
                    attempt_timeout=timedelta(seconds=timeout_s),
                    queue_wait=timedelta(seconds=inp.policy.queue_wait_seconds),
                    retry_policy=DELIVERY_ATTEMPT_RETRY,
                    summary=f"file {len(pending)} task(s) at {self._sink.name} "
                    f"(attempt {p.attempts})",
                )
            except ActivityError as exc:
                result = DeliveryAttemptResult(
                    outcome=AttemptOutcome.TRANSIENT,
                    error=f"attempt failed in the worker: {exc.cause or exc}",
                )
            for filed in result.filed:
                p.filed[filed.key] = filed
            rejected.update(result.rejected)
            left = [t for t in inp.tasks if t.key not in p.filed and t.key not in rejected]
            if result.outcome == AttemptOutcome.DELIVERED and left and result.filed:
                continue  # the call handed back early with progress: go on
            break
        p.rejected = rejected
        await self.record(workflow.now())
        if all(t.key in p.filed for t in inp.tasks):
            return DeliveryAttemptResult(outcome=AttemptOutcome.DELIVERED)
        if result.outcome == AttemptOutcome.DELIVERED:
            # Every task left was refused: retrying will not help until someone acts.
            key, why = next(iter(rejected.items()))
            return DeliveryAttemptResult(
                outcome=AttemptOutcome.PERMANENT,
                error=f"{len(rejected)} task(s) rejected; {key}: {why}",
            )
        return result

    async def record(self, at: datetime) -> None:
        """Write the tasks whose state changed to the ledger."""
        rows = task_records(
            self._inp.tasks,
            run_id=self._inp.run_id,
            sink=self._sink.name,
            activity_id=self._inp.activity_id,
            activity_name=self._inp.activity_name,
            backend="issue_core",
            state="pending",
            at=at,
            labels=self._sink.labels,
            filed=self._p.filed,
            rejected=self._p.rejected,
        )
        changed = [r for r in rows if self._recorded.get(r.key) != r.state]
        if not changed:
            return
        for row in changed:
            self._recorded[row.key] = row.state
        await write_ledger(
            LedgerActivities.record_tasks,
            TaskBatchRecord(records=changed),
            f"ledger: tasks {self.progress_text()}",
        )

    def dead_body(self) -> str:
        """The part of the dead-delivery alert that lists what was not filed."""
        lines = [f"- {self.progress_text()}"]
        for key, why in list(self._p.rejected.items())[:20]:
            lines.append(f"- rejected `{key}`: {why}")
        return "\n".join(lines)
