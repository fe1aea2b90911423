"""Parent isolation: a run's latency with the sink up vs down, and vs inline delivery.

activity-core's run persists the report and hands delivery to a child, so its latency
should not depend on the sink. The baseline delivers inline with an activity retry
policy, so its run waits out the outage.
"""

from __future__ import annotations

import asyncio
import uuid

import yaml

from activity_core.domain import RunInput
from bench.baseline import InlineDeliveryWorkflow, inline_deliver
from bench.harness import dev_server, median, report, run_alone, stack, timed
from workflows.activity_run import ActivityRunWorkflow


async def _bench(quick: bool) -> None:
    runs = 5 if quick else 20
    outage_s = 5.0 if quick else 30.0
    reps = 3
    async with (
        dev_server() as client,
        stack(client, [InlineDeliveryWorkflow], [inline_deliver]) as s,
    ):
        definition = {
            "name": "bench-parent",
            "handler": "static_report",
            "trigger_config": {"trigger_type": "manual"},
            "sinks": [
                {"type": "working_memory"},
                {"type": "state_hub_progress", "event_type": "bench", "url": s.hub.url},
            ],
        }
        (s.settings.definitions_dir / "bench.yaml").write_text(yaml.safe_dump(definition))

        async def one_run() -> None:
            await client.execute_workflow(
                ActivityRunWorkflow.run,
                RunInput(activity_name="bench-parent", activity_task_queue=s.activity_tq),
                id=f"bench-run-{uuid.uuid4().hex}",
                task_queue=s.workflow_tq,
            )

        await one_run()  # warm-up
        up = [await timed(one_run) for _ in range(runs)]
        s.hub.set_fault("refuse")
        down = [await timed(one_run) for _ in range(runs)]

        async def inline_with_outage() -> None:
            s.hub.set_fault("refuse")

            async def recover() -> None:
                await asyncio.sleep(outage_s)
                s.hub.set_fault("none")

            recovery = asyncio.create_task(recover())
            await client.execute_workflow(
                InlineDeliveryWorkflow.run,
                f"{s.hub.url}/progress/",
                id=f"bench-inline-{uuid.uuid4().hex}",
                task_queue=s.baseline_tq,
            )
            await recovery

        inline = [await timed(inline_with_outage) for _ in range(reps)]
        s.hub.set_fault("none")

    up_m, down_m, inline_m = median(up), median(down), median(inline)
    report(
        "parent_isolation",
        [
            {"case": "activity-core run, sink up", "runs": runs, "median_s": up_m},
            {"case": "activity-core run, sink refusing", "runs": runs, "median_s": down_m},
            {
                "case": f"baseline inline delivery, {outage_s:.0f} s outage",
                "runs": reps,
                "median_s": inline_m,
            },
        ],
        {
            "down_up_ratio": down_m / up_m,
            "target_down_up_ratio": "<= 1.2",
            "times_faster_than_inline": inline_m / down_m,
            "target_times_faster": ">= 100 (30 s outage)",
            "outage_s": outage_s,
        },
    )


def main(quick: bool = False) -> int:
    asyncio.run(_bench(quick))
    return 0


if __name__ == "__main__":
    run_alone(main)
