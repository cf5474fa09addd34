"""Latency of ``POST /api/uploads`` under load: N requests, C in flight at once, against the devhost.

    .venv/bin/python -m bench.upload_latency --requests 2000 --concurrency 1,10,100

Each request validates, writes the job record to Azurite and signs a SAS: the full path a customer takes.
Two load generators: httpx (asyncio, Python) and, when installed (``apt-get install wrk``), wrk, which uses far
less CPU; on a 2-core machine the Python generator competes with the server it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import subprocess
import tempfile
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


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"filename": "talk.wav", "size_bytes": 1000000000}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-functions-key"] = "%s"
"""


def run_wrk(base_url: str, key: str, concurrency: int, seconds: int) -> str:
    """wrk (C, from Debian) as the load generator: on 2 cores a Python client eats the CPU it measures."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % key)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t",
                "1",
                "-c",
                str(concurrency),
                "-d",
                f"{seconds}s",
                "--latency",
                "-s",
                script.name,
                f"{base_url}/api/uploads",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    pcts = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", out, re.MULTILINE))
    rate = re.search(r"Requests/sec:\s+(\S+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (
        f"wrk   {concurrency:>4} concurrent, {seconds} s, {errors[1] if errors else 0} non-2xx, "
        f"{rate[1] if rate else '?'} req/s | p50 {pcts.get('50')}  p90 {pcts.get('90')}  p99 {pcts.get('99')}"
    )


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", default="1,10,100", help="comma-separated levels, each measured in turn")
    parser.add_argument("--wrk-seconds", type=int, default=10, help="duration of each wrk run (if wrk is installed)")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    with LocalStack() as stack:
        for concurrency in levels:
            requests = args.requests if concurrency > 1 else min(args.requests, 300)
            latencies, wall, failures = asyncio.run(fire(stack.base_url, stack.function_key, requests, concurrency))
            ms = [x * 1000 for x in latencies]
            print(
                f"httpx {concurrency:>4} concurrent, {requests} requests, {failures} failed, "
                f"{requests / wall:5.0f} req/s | "
                f"p50 {pct(ms, 50):6.1f} ms  p90 {pct(ms, 90):6.1f}  p99 {pct(ms, 99):6.1f}  max {max(ms):6.1f}"
            )
            if shutil.which("wrk"):
                print(run_wrk(stack.base_url, stack.function_key, concurrency, args.wrk_seconds))


if __name__ == "__main__":
    main()
