"""Operators' view of real jobs through the one-machine stack: one connected trace per job, metrics with the
right labels, structured logs without secrets.

The stack exports to JSON-lines files (``TRANSCRIBE_TELEMETRY_DIR``, the cross-process stand-in for an
in-memory exporter): the devhost (standing in for the Function App: HTTP, blob and queue triggers, the
orchestrator and its activities) and the worker process write their own files. Two jobs run: a short speech clip
split into several segments (so the orchestrator replays many episodes) with a webhook whose receiver fails once,
started by a caller that sends its own ``traceparent``; and a file that is not audio, which fails.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from client.api import ApiError, TranscriptionApi
from client.uploads import upload_file
from devhost.stack import LocalStack
from devhost.timings import breakdown, render
from functions.pipeline.failures import RETRY
from shared.telemetry.files import read_metrics, read_spans
from shared.telemetry.names import (
    ACTIVITIES,
    METRIC_ATTRIBUTES,
    SERVICE_FUNCTIONS,
    SERVICE_WORKER,
    Attr,
    Metric,
    Span,
    span_names,
)
from tests.support.speed import scaled

DATA = Path(__file__).resolve().parent.parent / "data"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CALLER_TRACE, CALLER_SPAN = secrets.token_hex(16), secrets.token_hex(8)
ENV = {
    "TRANSCRIBE_SEGMENT_WINDOW_S": "9",  # the 22 s clip becomes 3 segments
    "TRANSCRIBE_SEGMENT_MIN_WINDOW_S": "5",
    "TRANSCRIBE_SEGMENT_OVERLAP_S": "1",
    "TRANSCRIBE_SEGMENT_TIMEOUT_S": "120",
    "TRANSCRIBE_WEBHOOK_BACKOFF_S": "0.3",
    "TRANSCRIBE_WEBHOOK_ATTEMPTS": "3",
}


class Receiver(ThreadingHTTPServer):
    """A webhook receiver that answers 503 once, then 204, and keeps the headers it saw."""

    def __init__(self) -> None:
        self.headers_seen: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                outer.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(503 if len(outer.headers_seen) == 1 else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


@dataclass
class Run:
    ok_job: str
    failed_job: str
    failed_code: str
    spans: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    logs: str
    secrets: list[str]
    webhook_headers: list[dict[str, str]]


def _wait(api: TranscriptionApi, job_id: str, timeout_s: float = 180) -> tuple[bool, dict[str, Any] | str]:
    timeout_s = scaled(timeout_s)  # tests/support/speed.py: this machine's pace
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            finished, job, _ = api.get_job(job_id)
        except ApiError as failed:
            return False, failed.problem.get("job_error_code") if failed.problem else failed.code
        if finished:
            return True, job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish")


def _run_jobs(stack: LocalStack, receiver: Receiver, token: str) -> tuple[str, str, str]:
    api = TranscriptionApi(stack.base_url, stack.function_key)
    speech = DATA / "speech_16k_mono.wav"
    body = {
        "filename": "speech.wav",
        "size_bytes": speech.stat().st_size,
        "callback_url": f"http://127.0.0.1:{receiver.server_address[1]}/hook?token={token}",
    }
    created = httpx.post(
        f"{stack.base_url}/api/uploads",
        json=body,
        headers={"x-functions-key": stack.function_key, "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
    ).json()
    upload_file(api, speech, resume_job_id=created["job_id"])
    bad = DATA / "not_audio.wav"
    failed = api.create_upload({"filename": "not_audio.wav", "size_bytes": bad.stat().st_size})
    upload_file(api, bad, resume_job_id=failed["job_id"])
    done, _ = _wait(api, created["job_id"])
    assert done
    done, code = _wait(api, failed["job_id"])
    assert not done and isinstance(code, str)
    # The durable status API is called with its key in the query string, as Logic Apps and scripts do.
    httpx.get(
        f"{stack.base_url}/runtime/webhooks/durabletask/instances/{created['job_id']}", params=stack.durable_params
    )
    deadline = time.monotonic() + scaled(30)
    while len(receiver.headers_seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    return created["job_id"], failed["job_id"], code


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("telemetry")
    receiver, token = Receiver(), secrets.token_urlsafe(24)
    env = {**ENV, "TRANSCRIBE_TELEMETRY_DIR": str(folder)}
    stack = LocalStack(env=env, workers=1, worker_threads=2).start()
    try:
        ok_job, failed_job, code = _run_jobs(stack, receiver, token)
        time.sleep(3)  # one more periodic metric export from every process
        logs = "\n".join(p.log_tail(100_000) for p in [stack.devhost, *stack.workers] if p is not None)
        keys = [stack.function_key, stack.master_key, stack.durable_key, AZURITE_KEY, token]
    finally:
        stack.stop()  # the processes flush their exporters on the way out
        receiver.shutdown()
    return Run(ok_job, failed_job, code, read_spans(folder), read_metrics(folder), logs, keys, receiver.headers_seen)


def _trace(run: Run, job_id: str) -> list[dict[str, Any]]:
    roots = [s for s in run.spans if s["name"] == Span.JOB and s["attributes"].get(Attr.JOB_ID) == job_id]
    assert len(roots) == 1, f"{len(roots)} job spans for {job_id}"
    return [s for s in run.spans if s["trace_id"] == roots[0]["trace_id"]]


def _one(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [s for s in spans if s["name"] == name]
    assert len(found) == 1, f"{len(found)} spans named {name!r}"
    return found[0]


def test_one_connected_trace_per_job_across_processes(run: Run) -> None:
    spans = _trace(run, run.ok_job)
    job = _one(spans, Span.JOB)
    assert job["trace_id"] == CALLER_TRACE and job["parent_span_id"] == CALLER_SPAN  # the caller's trace, joined
    ids = Counter(s["span_id"] for s in run.spans)
    assert not [i for i, n in ids.items() if n > 1], "a span was written twice"
    by_id = {s["span_id"]: s for s in spans}
    orphans = [s["name"] for s in spans if s is not job and s["parent_span_id"] not in by_id]
    assert not orphans, f"spans whose parent is not in the job's trace: {orphans}"
    assert {s["service"] for s in spans} == {SERVICE_FUNCTIONS, SERVICE_WORKER}
    names = {s["name"] for s in spans}
    assert names == span_names(), f"missing {span_names() - names}, unknown {names - span_names()}"
    assert all(s["attributes"].get(Attr.JOB_ID) in (None, run.ok_job) for s in spans)


def test_the_tree_reads_like_the_flow(run: Run) -> None:
    spans = _trace(run, run.ok_job)
    by_id = {s["span_id"]: s for s in spans}

    def parent(span: dict[str, Any]) -> str:
        return str(by_id[span["parent_span_id"]]["name"])

    job, orchestration = _one(spans, Span.JOB), _one(spans, Span.ORCHESTRATION)
    assert parent(_one(spans, Span.UPLOAD_CREATE)) == Span.JOB
    assert parent(_one(spans, Span.INGEST)) == Span.JOB
    assert parent(orchestration) == Span.INGEST
    assert parent(_one(spans, Span.SEGMENTS)) == Span.ORCHESTRATION
    segments = [s for s in spans if s["name"] == Span.SEGMENT]
    assert len(segments) == job["attributes"][Attr.SEGMENTS] == 3
    for segment in segments:
        assert parent(segment) == Span.activity("dispatch_segments")
        children = {s["name"] for s in spans if s["parent_span_id"] == segment["span_id"]}
        assert {Span.SEGMENT_DECODE, Span.SEGMENT_INFERENCE, Span.SEGMENT_WRITE} <= children
        attributes = segment["attributes"]
        assert attributes[Attr.MODEL] == "tiny.en" and attributes[Attr.DEVICE] == "cpu"
        assert attributes[Attr.COMPUTE_TYPE] and attributes[Attr.ATTEMPT] == 1 and attributes[Attr.AUDIO_S] > 0
    assert sorted(s["attributes"][Attr.SEGMENT_INDEX] for s in segments) == [0, 1, 2]
    reads = [s for s in spans if s["name"] == Span.BLOB_RANGE_READ]
    assert {parent(r) for r in reads} >= {Span.SEGMENT_DECODE, Span.activity("probe_audio")}
    reports = [s for s in spans if s["name"] == Span.SEGMENT_REPORT]
    assert len(reports) == 3 and {parent(r) for r in reports} == {Span.SEGMENT}
    activities = Counter(parent(s) for s in spans if s["name"].startswith(Span.ACTIVITY_PREFIX))
    assert set(activities) == {Span.ORCHESTRATION, Span.SEGMENTS}
    webhooks = sorted((s for s in spans if s["name"] == Span.WEBHOOK), key=lambda s: s["start_ns"])
    assert [w["attributes"][Attr.HTTP_STATUS] for w in webhooks] == [503, 204]
    # The job span covers the whole job: from the upload session to the last webhook.
    assert job["start_ns"] <= min(s["start_ns"] for s in spans)
    assert job["end_ns"] >= max(s["end_ns"] for s in spans) - 50_000_000  # episode clock vs wall clock: 50 ms
    assert job["attributes"][Attr.STATUS] == "completed" and abs(job["attributes"][Attr.AUDIO_S] - 22.0) < 0.1
    failed = [s["name"] for s in spans if s["status"] == "ERROR"]
    assert failed == [Span.activity("deliver_webhook")]  # the attempt that met the 503 (and was retried)


def test_orchestrator_replays_write_no_spans_twice(run: Run) -> None:
    """Three segments and a retried webhook take the orchestrator through more than ten episodes, each a
    replay from the top; its long spans are still written exactly once, and each activity once per call."""
    spans = _trace(run, run.ok_job)
    for name in (Span.JOB, Span.ORCHESTRATION, Span.SEGMENTS):
        _one(spans, name)
    calls = Counter(s["name"] for s in spans if s["name"].startswith(Span.ACTIVITY_PREFIX))
    # set_job_status: transcribing, merging, completed; webhook: one 503, one delivery.
    expected = {
        "set_job_status": 3,
        "probe_audio": 1,
        "dispatch_segments": 1,
        "merge_transcript": 1,
        "clean_up_batches": 1,
    }
    assert calls == {**{Span.activity(k): v for k, v in expected.items()}, Span.activity("deliver_webhook"): 2}
    assert set(ACTIVITIES) == {name.removeprefix(Span.ACTIVITY_PREFIX) for name in calls}


def test_the_webhook_receiver_gets_the_job_trace(run: Run) -> None:
    assert len(run.webhook_headers) == 2
    assert all(h["traceparent"].split("-")[1] == CALLER_TRACE for h in run.webhook_headers)


def test_a_failed_job_carries_its_code_on_the_root_span(run: Run) -> None:
    spans = _trace(run, run.failed_job)
    job = _one(spans, Span.JOB)
    assert job["parent_span_id"] is None  # no caller context: the job span is the trace's root
    assert job["status"] == "ERROR" and job["attributes"][Attr.ERROR_CODE] == run.failed_code == "corrupt_audio"
    assert job["attributes"][Attr.STATUS] == "failed"
    probes = [s for s in spans if s["name"] == Span.activity("probe_audio")]
    # a permanent error is returned as an outcome (functions/pipeline/failures.py), not raised: no retry runs it again
    assert len(probes) == 1 < RETRY.max_number_of_attempts
    assert all(p["status"] == "ERROR" and p["attributes"][Attr.ERROR_CODE] == "corrupt_audio" for p in probes)
    assert not [s for s in spans if s["name"] == Span.SEGMENT]


def _totals(run: Run) -> dict[tuple[str, frozenset[tuple[str, Any]]], dict[str, float]]:
    totals: dict[tuple[str, frozenset[tuple[str, Any]]], dict[str, float]] = defaultdict(
        lambda: {"value": 0.0, "count": 0.0, "sum": 0.0}
    )
    for row in run.metrics:
        key = (row["name"], frozenset(row["attributes"].items()))
        for field in ("value", "count", "sum"):
            totals[key][field] += row.get(field) or 0.0
    return totals


def test_metrics_carry_the_right_labels(run: Run) -> None:
    for row in run.metrics:
        assert row["name"] in METRIC_ATTRIBUTES, f"unknown metric {row['name']}"
        assert set(row["attributes"]) == METRIC_ATTRIBUTES[row["name"]], row
    totals = _totals(run)

    def total(name: str, field: str = "value", **labels: Any) -> float:
        wanted = {(f"transcription.{k}", v) for k, v in labels.items()}
        return sum(v[field] for (n, attrs), v in totals.items() if n == name and wanted <= attrs)

    speech, bad = (DATA / "speech_16k_mono.wav").stat().st_size, (DATA / "not_audio.wav").stat().st_size
    assert total(Metric.JOBS_STARTED, format="wav") == 2
    assert total(Metric.UPLOAD_BYTES, format="wav") == speech + bad
    assert total(Metric.JOBS_COMPLETED, format="wav") == 1
    assert total(Metric.JOBS_FAILED, format="wav", error_code="corrupt_audio") == 1
    assert total(Metric.JOBS_ACTIVE) == 0  # +1 at each start, -1 at each end
    assert total(Metric.TURNAROUND, "count", status="completed") == 1
    assert total(Metric.TURNAROUND, "count", status="failed") == 1
    assert total(Metric.JOB_RTFX, "count") == 1
    windows = sum(s["attributes"][Attr.AUDIO_S] for s in run.spans if s["name"] == Span.SEGMENT)
    assert 22.0 < windows == pytest.approx(total(Metric.AUDIO_SECONDS, model="tiny.en", device="cpu"), abs=0.01)
    assert total(Metric.SEGMENT_RTFX, "count", device="cpu") == 3
    assert total(Metric.QUEUE_WAIT, "count", attempt=1) == 3
    assert total(Metric.WORKER_BUSY, device="cpu") > 0
    assert total(Metric.WORKER_REPLICA, device="cpu") > 0  # written when the worker stopped
    assert total(Metric.BACKLOG, "count") >= 4  # sampled at the dispatch and at each pick-up
    assert total(Metric.SEGMENTS_FAILED) == total(Metric.SEGMENTS_POISONED) == 0


def test_logs_are_json_with_job_and_trace_and_no_secrets(run: Run) -> None:
    leaks = [s[:6] + "…" for s in run.secrets if s in run.logs]
    assert not leaks, f"secrets in the logs: {leaks}"
    assert not re.search(r"sig=(?!\*\*\*)[A-Za-z0-9%]{10,}", run.logs)
    lines = [json.loads(line) for line in run.logs.splitlines() if line.startswith("{")]
    assert len(lines) > 20
    keys = {"timestamp", "level", "logger", "message", "job_id", "segment", "trace_id", "span_id"}
    assert all(keys <= set(line) for line in lines)
    worker_lines = [line for line in lines if "segment started" in line["message"] and line["job_id"] == run.ok_job]
    assert len(worker_lines) == 3
    assert all(line["trace_id"] == CALLER_TRACE and line["span_id"] for line in worker_lines)
    assert sorted(line["segment"] for line in worker_lines) == [0, 1, 2]


def test_timings_break_the_job_down_from_its_spans(run: Run) -> None:
    """``scripts/transcribe --timings`` prints this: each stage from the spans, the whole job last."""
    stages = {stage.name: stage for stage in breakdown(run.spans, run.ok_job)}
    spans = _trace(run, run.ok_job)
    job = _one(spans, Span.JOB)
    assert list(stages)[-1] == "job, end to end"
    assert stages["job, end to end"].seconds == (job["end_ns"] - job["start_ns"]) / 1e9
    inference = [s for s in spans if s["name"] == Span.SEGMENT_INFERENCE]
    assert stages["  inference"].count == 3
    assert stages["  inference"].seconds == pytest.approx(sum((s["end_ns"] - s["start_ns"]) / 1e9 for s in inference))
    assert stages["  inference"].slowest_s == max((s["end_ns"] - s["start_ns"]) / 1e9 for s in inference)
    assert stages["webhook"].count == 2 and stages["probe"].count == 1
    assert 0 < stages["segments, wall"].seconds < stages["job, end to end"].seconds
    text = render(list(stages.values()))
    assert "inference" in text and "100.0%" in text
    assert breakdown(run.spans, "no-such-job") == []
