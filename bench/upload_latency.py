"""Latency of ``POST /api/uploads`` under load: N requests, C in flight at once, against the devhost.

    .venv/bin/python -m bench.upload_latency --requests 2000 --concurrency 100

Each request validates, writes the job record to Azurite and signs a SAS: the full path a customer takes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time

import httpx

from devhost.stack import LocalStack


async def fire(base_url: str, key: str, requests: int, concurrency: int) -> tuple[list[float], float, int]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    failures = 0
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers={"x-functions-key": key}, limits=limits, timeout=60
    ) as client:

        async def one(i: int) -> None:
            nonlocal failures
            async with gate:
                started = time.perf_counter()
                response = await client.post("/api/uploads", json={"filename": f"f{i}.wav", "size_bytes": 10**9})
                latencies.append(time.perf_counter() - started)
                failures += response.status_code != 201

        await asyncio.gather(*(one(i) for i in range(min(concurrency, 50))))  # warm-up: connections, caches
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(requests)))
        return latencies, time.perf_counter() - started, failures


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    with LocalStack() as stack:
        latencies, wall, failures = asyncio.run(
            fire(stack.base_url, stack.function_key, args.requests, args.concurrency)
        )
    ms = [x * 1000 for x in latencies]
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"{args.requests} requests, {args.concurrency} concurrent, {failures} failed, {args.requests / wall:.0f} req/s"
    )
    print(
        f"latency ms: p50 {pct(ms, 50):.1f}  p90 {pct(ms, 90):.1f}  p99 {pct(ms, 99):.1f}  "
        f"max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}"
    )


if __name__ == "__main__":
    main()
