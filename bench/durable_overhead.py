"""Durable engine overhead on one machine: fan-out/fan-in throughput of no-op activities, and the latency from
``raise_event`` to the orchestrator resuming.

    .venv/bin/python -m bench.durable_overhead --activities 100 --rounds 3 --events 50

Uses the test app in tests/apps/durable_app through the public durable HTTP API of the devhost. The resume time is
the episode's own timestamp (``current_utc_datetime``), taken on the same clock as the send time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import httpx

from devhost.stack import LocalStack

APP_DIR = Path(__file__).resolve().parent.parent / "tests" / "apps" / "durable_app"
HOOK = "/runtime/webhooks/durabletask"


def start(http: httpx.Client, name: str, payload: object) -> str:
    response = http.post(
        f"{HOOK}/orchestrators/{name}",
        content=json.dumps(json.dumps(payload)),
        headers={"content-type": "application/json"},
    )
    response.raise_for_status()
    return str(response.json()["id"])


def status(http: httpx.Client, instance_id: str) -> dict:
    return dict(http.get(f"{HOOK}/instances/{instance_id}").json())


def fan_out_seconds(http: httpx.Client, n: int) -> float:
    started = time.perf_counter()
    instance_id = start(http, "fan_out", {"n": n})
    while (final := status(http, instance_id))["runtimeStatus"] != "Completed":
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    assert final["output"] == [i * i for i in range(n)], "wrong fan-in result"
    return elapsed


def event_latencies_ms(http: httpx.Client, events: int) -> tuple[list[float], list[float]]:
    """(send -> episode started, send -> poller saw the orchestrator's custom status change)."""
    instance_id = start(http, "echo_events", events)
    while status(http, instance_id)["runtimeStatus"] != "Running":
        time.sleep(0.005)
    sent, observed = [], []
    for i in range(events):
        sent.append(time.time())
        http.post(f"{HOOK}/instances/{instance_id}/raiseEvent/ping", json=i).raise_for_status()
        while (status(http, instance_id).get("customStatus") or 0) < i + 1:
            time.sleep(0.001)
        observed.append((time.time() - sent[-1]) * 1000)
    while (final := status(http, instance_id))["runtimeStatus"] != "Completed":
        time.sleep(0.005)
    resumed = [(at_resume - at) * 1000 for at_resume, at in zip(final["output"], sent, strict=True)]
    return resumed, observed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--activities", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=50)
    args = parser.parse_args()
    with (
        LocalStack(app_dir=APP_DIR) as stack,
        httpx.Client(base_url=stack.base_url, params=stack.durable_params, timeout=60) as http,
    ):
        fan_out_seconds(http, 10)  # warm-up: imports, SQLite file, thread pools
        runs = [fan_out_seconds(http, args.activities) for _ in range(args.rounds)]
        resumed, observed = event_latencies_ms(http, args.events)
    median, best = statistics.median(runs), min(runs)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"fan-out/fan-in of {args.activities} no-op activities: median {median:.2f} s "
        f"({args.activities / median:.0f} activities/s); best of {len(runs)} {best:.2f} s "
        f"({args.activities / best:.0f}/s)"
    )
    for label, values in (("episode started", resumed), ("status observed by a poller", observed)):
        ordered = sorted(values)
        print(
            f"raise_event -> {label} ({args.events} events): p50 {statistics.median(ordered):.1f} ms, "
            f"p90 {ordered[int(0.9 * len(ordered))]:.1f} ms, max {ordered[-1]:.1f} ms"
        )


if __name__ == "__main__":
    main()
