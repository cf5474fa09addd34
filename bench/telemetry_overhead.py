"""What telemetry costs a job: the same job on two one-machine stacks, telemetry off and on, alternated.

    .venv/bin/python -m bench.telemetry_overhead --rounds 4

"On" is the stack's file exporter (``TRANSCRIBE_TELEMETRY_DIR``: every span written synchronously as a JSON line,
metrics every 2 s), which does more work on the job's path than the Azure Monitor exporter (batched, off-thread).
"Off" is the OpenTelemetry API's no-op tracer and meter. The two stacks run side by side and take turns (who goes
first alternates), so drift in the machine's speed hits both. Reported per job: wall time (dominated on one machine
by queue-polling delays of up to 2 s, hence noisy) and the CPU seconds the stack's host and worker processes used
during the job (the cost telemetry adds, with far less noise); and the cost of one span through each path.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from client.api import TranscriptionApi
from client.uploads import upload_file
from devhost.stack import LocalStack
from shared.telemetry.files import read_spans

CLIP = Path(__file__).resolve().parent.parent / "tests" / "data" / "long.flac"
ENV = {"TRANSCRIBE_SEGMENT_WINDOW_S": "30", "TRANSCRIBE_SEGMENT_MIN_WINDOW_S": "10", "TRANSCRIBE_EXPECTED_WORKERS": "2"}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def one_job(stack: LocalStack) -> tuple[str, float]:
    api = TranscriptionApi(stack.base_url, stack.function_key)
    try:
        started = time.perf_counter()
        job_id = upload_file(api, CLIP).job_id
        while True:
            finished, _, _ = api.get_job(job_id)
            if finished:
                return job_id, time.perf_counter() - started
            time.sleep(0.05)
    finally:
        api.close()


def span_cost_us(spans: int = 20_000) -> dict[str, float]:
    """Microseconds per span (start, 3 attributes, end): the no-op API and the SDK with the file exporter."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import NoOpTracer

    from shared.telemetry.files import JsonLinesSpanExporter

    def per_span(tracer: object) -> float:
        start = time.perf_counter()
        for i in range(spans):
            with tracer.start_as_current_span("segment", attributes={"a": i, "b": "x", "c": 1.5}):  # type: ignore[attr-defined]
                pass
        return (time.perf_counter() - start) / spans * 1e6

    with tempfile.TemporaryDirectory() as folder:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(Path(folder), "bench")))
        return {"noop_us": per_span(NoOpTracer()), "file_exporter_us": per_span(provider.get_tracer("bench"))}


def stack_cpu_s(stack: LocalStack) -> float:
    """User + system CPU seconds used so far by the stack's host and worker processes."""
    import psutil

    total = 0.0
    for process in [stack.devhost, *stack.workers]:
        if process is not None and process.proc is not None:
            times = psutil.Process(process.proc.pid).cpu_times()
            total += times.user + times.system
    return total


def measured_job(stack: LocalStack) -> tuple[str, float, float]:
    cpu = stack_cpu_s(stack)
    job_id, seconds = one_job(stack)
    return job_id, seconds, stack_cpu_s(stack) - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    telemetry_dir = Path(tempfile.mkdtemp(prefix="bench-telemetry-"))
    wall: dict[str, list[float]] = {"off": [], "on": []}
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    spans_per_job: list[int] = []
    off = LocalStack(env=ENV, workers=args.workers, worker_threads=1)
    on = LocalStack(env={**ENV, "TRANSCRIBE_TELEMETRY_DIR": str(telemetry_dir)}, workers=args.workers, worker_threads=1)
    with off, on:
        one_job(off), one_job(on)  # warm-up: first imports, first model load on each worker
        for round_ in range(args.rounds):
            order = [("off", off), ("on", on)]
            for label, stack in order if round_ % 2 == 0 else order[::-1]:  # alternate who goes first
                _, seconds, cpu_s = measured_job(stack)
                wall[label].append(seconds)
                cpu[label].append(cpu_s)
                if label == "on":
                    before = len(read_spans(telemetry_dir))
                    spans_per_job.append(before - sum(spans_per_job))
    report = {
        "cpu": cpu_model(),
        "clip": f"{CLIP.name} (73.2 s), 30 s windows, {args.workers} workers x 1 thread, order alternated",
        "rounds": args.rounds,
        "wall_s_off": [round(t, 2) for t in wall["off"]],
        "wall_s_on": [round(t, 2) for t in wall["on"]],
        "cpu_s_off": [round(t, 2) for t in cpu["off"]],
        "cpu_s_on": [round(t, 2) for t in cpu["on"]],
        "median_wall_off_s": round(statistics.median(wall["off"]), 2),
        "median_wall_on_s": round(statistics.median(wall["on"]), 2),
        "median_cpu_off_s": round(statistics.median(cpu["off"]), 3),
        "median_cpu_on_s": round(statistics.median(cpu["on"]), 3),
        "cpu_ratio_on_off": round(statistics.median(cpu["on"]) / statistics.median(cpu["off"]), 4),
        "spans_per_job": spans_per_job,
        **{k: round(v, 2) for k, v in span_cost_us().items()},
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
