"""Payload encryption cost: the same scheduled run with its delivery child, with the
codec on (AES-256-GCM over every payload, failure messages encoded) and off, on one dev
server, interleaved. Reports runs per second at 10 in flight and the latency of single
runs; target: encrypted / plain <= 1.05 for both."""

from __future__ import annotations

import asyncio
import time

import yaml
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activity_core.codec import EncryptionCodec, new_key, parse_keys, with_codec
from bench.harness import Stack, dev_server, median, report, run_alone, stack, timed_run_definition
from bench.throughput import _ours


async def _latency(s: Stack, n: int) -> float:
    """Median seconds of one run (and its delivery) alone."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        await _ours(s, 1)
        times.append(time.perf_counter() - start)
    return median(times)


async def _bench(quick: bool) -> None:
    n, single, reps = (20, 5, 2) if quick else (150, 20, 3)
    codec = EncryptionCodec(parse_keys(f"bench:{new_key()}"))
    async with dev_server() as plain_client:
        sealed_client = Client(
            plain_client.service_client,
            namespace=plain_client.namespace,
            data_converter=with_codec(pydantic_data_converter, codec),
        )
        async with stack(plain_client) as plain, stack(sealed_client) as sealed:
            for s in (plain, sealed):
                definition = timed_run_definition("bench-tp", s.hub.url)
                (s.settings.definitions_dir / "bench.yaml").write_text(yaml.safe_dump(definition))
                await _ours(s, 3)  # warm-up
            rate: dict[str, list[float]] = {"plain": [], "sealed": []}
            lat: dict[str, list[float]] = {"plain": [], "sealed": []}
            for _ in range(reps):  # interleaved, so drift on the machine hits both alike
                for name, s in (("plain", plain), ("sealed", sealed)):
                    rate[name].append(await _ours(s, n))
                    lat[name].append(await _latency(s, single))
    r = {k: median(v) for k, v in rate.items()}
    ms = {k: median(v) * 1000 for k, v in lat.items()}
    report(
        "encryption",
        [
            {"case": "codec off", "runs_per_s": r["plain"], "single_run_ms": ms["plain"]},
            {
                "case": "codec on (AES-256-GCM)",
                "runs_per_s": r["sealed"],
                "single_run_ms": ms["sealed"],
            },
        ],
        {
            "throughput_ratio": r["plain"] / r["sealed"],
            "latency_ratio": ms["sealed"] / ms["plain"],
            "target": "<= 1.05 for both",
            "runs": n,
            "repetitions": reps,
        },
    )


def main(quick: bool = False) -> int:
    asyncio.run(_bench(quick))
    return 0


if __name__ == "__main__":
    run_alone(main)
