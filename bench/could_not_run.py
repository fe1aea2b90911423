"""How soon the incident's own definition says it could not run. The State Hub refuses;
the triage (daily-statehub-wsjf-triage: one required, two optional resolvers) must write
its "could not run" note as soon as its required resolver has given up. Baseline in the
same run: the same definition with its required resolver only (the floor: that
resolver's own retries). Reports seconds from the start to the run's end (its note
written and its deliveries handed over); targets: <= 25 s, and ours / floor <= 1.1."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import yaml

from activity_core.domain import RunInput, RunOutcome
from bench.harness import Stack, dev_server, median, report, run_alone, stack
from workflows.activity_run import ActivityRunWorkflow

INCIDENT = "daily-statehub-wsjf-triage"
REPO = Path(__file__).resolve().parents[1]


def _define(s: Stack, name: str, required_only: bool) -> None:
    body = yaml.safe_load((REPO / "definitions" / f"{INCIDENT}.yaml").read_text())
    body["name"] = name
    body["trigger_config"] = {"trigger_type": "manual"}
    body.pop("id", None)
    if required_only:
        body["resolvers"] = [r for r in body["resolvers"] if r.get("required", True)]
    body["sinks"] = [{"type": "working_memory"}]
    (s.settings.definitions_dir / f"{name}.yaml").write_text(yaml.safe_dump(body))


async def _seconds(s: Stack, name: str) -> float:
    start = time.perf_counter()
    result = await s.client.execute_workflow(
        ActivityRunWorkflow.run,
        RunInput(activity_name=name, trigger="manual", activity_task_queue=s.activity_tq),
        id=f"bench-cnr-{name}-{uuid.uuid4().hex[:8]}",
        task_queue=s.workflow_tq,
    )
    assert result.outcome == RunOutcome.COULD_NOT_RUN, result.outcome
    return time.perf_counter() - start


async def _bench(quick: bool) -> None:
    reps = 1 if quick else 3
    async with dev_server() as client, stack(client) as s:
        _define(s, "incident", required_only=False)
        _define(s, "floor", required_only=True)
        s.hub.set_fault("refuse")
        times: dict[str, list[float]] = {"incident": [], "floor": []}
        for _ in range(reps):  # interleaved
            for name in ("floor", "incident"):
                times[name].append(await _seconds(s, name))
    t = {k: median(v) for k, v in times.items()}
    report(
        "could_not_run",
        [
            {"case": "required resolver only (floor)", "seconds_to_note": t["floor"]},
            {
                "case": "the incident's triage (1 required, 2 optional)",
                "seconds_to_note": t["incident"],
            },
        ],
        {
            "ratio": t["incident"] / t["floor"],
            "target": "<= 25 s and <= 1.1 x the floor",
            "repetitions": reps,
        },
    )


def main(quick: bool = False) -> int:
    asyncio.run(_bench(quick))
    return 0


if __name__ == "__main__":
    run_alone(main)
