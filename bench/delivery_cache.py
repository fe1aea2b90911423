"""What a waiting delivery costs the worker: kept in its workflow cache, or evicted.

The same backlog as ``bench.backlog`` (N deliveries waiting on a refusing hub, then the
hub returns and the recovery monitor wakes them at the default pace), once per worker
cache size (``ACTCORE_MAX_CACHED_WORKFLOWS``):

- the default (100): most of a large backlog is evicted, so a wake replays the
  delivery's history (in a fresh sandbox) before it can act;
- the whole backlog (N): every waiting delivery stays in memory.

(No cache at all is not a case: every workflow task then replays, and with 1,000
deliveries on this machine the tasks timed out and were retried over and over.)

Measured per case: the worker's RSS idle and with the backlog waiting, and the worker's
CPU time per delivery during the drain (the cost of a wake, replay included). The
baseline is the default cache in the same run: the memory a cached delivery costs and
the CPU its wake saves are read against it.
"""

from __future__ import annotations

import asyncio

from bench.backlog import DEFAULT_PACE, Backlog, run_backlog
from bench.harness import report, run_alone


def _row(cache: int, b: Backlog) -> dict[str, object]:
    return {
        "case": f"cache {cache}",
        "max_cached_workflows": cache,
        "deliveries_waiting": b.n,
        "extra_rss_mb": b.waiting_mb - b.idle_mb,
        "extra_after_drain_mb": b.drained_mb - b.idle_mb,
        "cpu_ms_per_wake": b.drain_cpu_s * 1000 / b.n,
        "drain_s": b.drain_s,
    }


async def _bench(quick: bool) -> None:
    n = 100 if quick else 1000
    caches = [100, n] if not quick else [10, n]
    results = {
        c: await run_backlog(n, DEFAULT_PACE, quick, {"ACTCORE_MAX_CACHED_WORKFLOWS": str(c)})
        for c in caches
    }
    rows = [_row(c, b) for c, b in results.items()]
    few, full = results[caches[0]], results[n]
    per_cached_kb = (
        ((full.waiting_mb - full.idle_mb) - (few.waiting_mb - few.idle_mb)) * 1024 / (n - caches[0])
    )
    report(
        "delivery_cache",
        rows,
        {
            "kb_per_cached_waiting_delivery": per_cached_kb,
            "cpu_ms_per_wake_mostly_evicted": few.drain_cpu_s * 1000 / n,
            "cpu_ms_per_wake_cached": full.drain_cpu_s * 1000 / n,
            "wake_cost_ratio_evicted_vs_cached": few.drain_cpu_s / full.drain_cpu_s,
            "pace_per_s": DEFAULT_PACE,
        },
    )


def main(quick: bool = False) -> int:
    asyncio.run(_bench(quick))
    return 0


if __name__ == "__main__":
    run_alone(main)
