"""``python -m bench``: run every benchmark module listed in BENCHMARKS."""

from __future__ import annotations

import importlib
import logging
import os
import sys

BENCHMARKS = [
    "bench.parent_isolation",
    "bench.backlog",
    "bench.delivery_cache",
    "bench.sink_pace",
    "bench.throughput",
    "bench.run_profile",
    "bench.history_bound",
    "bench.sync_scale",
    "bench.ledger",
    "bench.api_board",
    "bench.events",
    "bench.encryption",
    "bench.could_not_run",
    "bench.top_of_hour",
    "bench.watchdog_scale",
]


def main() -> int:
    quick = "--quick" in sys.argv
    # The baselines fail activities on purpose; keep their retries out of the output.
    logging.basicConfig(level=logging.ERROR)
    code = 0
    for name in BENCHMARKS:
        module = importlib.import_module(name)
        code |= int(module.main(quick=quick) or 0)
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    os._exit(main())
