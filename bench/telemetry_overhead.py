"""What telemetry costs a job: the same job on two one-machine stacks, telemetry off and on, alternated.

    .venv/bin/python -m bench.telemetry_overhead --rounds 4

"On" is the stack's file exporter (``TRANSCRIBE_TELEMETRY_DIR``: every span written synchronously as a JSON line,
metrics every 2 s), which does more work on the job's path than the Azure Monitor exporter (batched, off-thread).
"Off" is the OpenTelemetry API's no-op tracer and meter. The two stacks run side by side and take turns, so drift
in the machine's speed hits both. Also reported: the cost of one span through each path, in-process.
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
from shared.telemetry_files import read_spans

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

    from shared.telemetry_files import JsonLinesSpanExporter

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    telemetry_dir = Path(tempfile.mkdtemp(prefix="bench-telemetry-"))
    times: dict[str, list[float]] = {"off": [], "on": []}
    spans_per_job: list[int] = []
    off = LocalStack(env=ENV, workers=args.workers, worker_threads=1)
    on = LocalStack(env={**ENV, "TRANSCRIBE_TELEMETRY_DIR": str(telemetry_dir)}, workers=args.workers, worker_threads=1)
    with off, on:
        one_job(off), one_job(on)  # warm-up: first imports, first model load on each worker
        for _ in range(args.rounds):
            for label, stack in (("off", off), ("on", on)):
                job_id, seconds = one_job(stack)
                times[label].append(seconds)
                if label == "on":
                    spans = read_spans(telemetry_dir)
                    spans_per_job.append(sum(s["attributes"].get("transcription.job_id") == job_id for s in spans))
    median_off, median_on = statistics.median(times["off"]), statistics.median(times["on"])
    report = {
        "cpu": cpu_model(),
        "clip": f"{CLIP.name} (73.2 s), 30 s windows, {args.workers} workers x 1 thread",
        "rounds": args.rounds,
        "job_s_off": [round(t, 3) for t in times["off"]],
        "job_s_on": [round(t, 3) for t in times["on"]],
        "median_off_s": round(median_off, 3),
        "median_on_s": round(median_on, 3),
        "overhead_pct": round(100 * (median_on / median_off - 1), 2),
        "spans_with_job_id_per_job": spans_per_job,
        **{k: round(v, 2) for k, v in span_cost_us().items()},
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
