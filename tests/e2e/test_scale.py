"""Many segments in one job through the one-machine host: the orchestration stays linear and bounded.

The real app, host, queues and worker loop; only the transcription is left out (``tests/support/noop_worker.py``),
since the model is beside the point here. A 1,000 s silent WAV cut into 1 s windows makes 1,000 segments, ten
batches of 100 (the cost per segment at 10,000 is ``bench/scale.py``'s). Three segments' first attempts vanish (as
when a worker's report is lost), so one batch must redispatch them after its no-progress deadline. A second job is
canceled while its batches run.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from client.api import TranscriptionApi
from client.uploads import upload_file
from devhost.stack import LocalStack
from functions.pipeline.batches import batch_instance_id
from tests.support.silence import silent_wav
from tests.support.speed import scaled

HOOK = "/runtime/webhooks/durabletask/instances"
# Was 2,000 in batches of 200: the same ten batches, redispatch and bounds at half the host time.
SEGMENTS = 1000
SWALLOWED = (500, 501, 502)  # batch 5
ENV = {
    "TRANSCRIBE_SEGMENT_WINDOW_S": "1",
    "TRANSCRIBE_SEGMENT_MIN_WINDOW_S": "1",
    "TRANSCRIBE_SEGMENT_OVERLAP_S": "0.1",
    "TRANSCRIBE_EXPECTED_WORKERS": "3",
    "TRANSCRIBE_SEGMENT_TIMEOUT_S": "15",
    "TRANSCRIBE_SEGMENT_BATCH_SIZE": "100",  # ten batches of 100 (the default is 50: fewer, larger batches here)
}
CUSTOM_STATUS_LIMIT = 16 * 1024  # Durable's limit on a custom status (the host enforces it too)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    args = ["--swallow", ",".join(map(str, SWALLOWED))]
    with LocalStack(env=ENV, workers=3, worker_module="tests.support.noop_worker", worker_args=args) as running:
        yield running


class Watcher(threading.Thread):
    """Polls the status API (latency) and the orchestration's custom status (size) while a job runs."""

    def __init__(self, stack: LocalStack, job_id: str) -> None:
        super().__init__(daemon=True)
        self.stack, self.job_id = stack, job_id
        self.latencies: list[float] = []
        self.statuses: list[int] = []
        self.largest_custom_status = 0
        self.done_counts: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        headers = {"x-functions-key": self.stack.function_key}
        with httpx.Client(base_url=self.stack.base_url, timeout=60) as http:
            while not self.stop.is_set():
                started = time.perf_counter()
                response = http.get(f"/api/jobs/{self.job_id}", headers=headers)
                self.latencies.append(time.perf_counter() - started)
                self.statuses.append(response.status_code)
                progress = (response.json().get("progress") or {}) if response.status_code == 202 else {}
                if progress:
                    self.done_counts.append(int(progress["segments_done"]))
                durable = http.get(f"{HOOK}/{self.job_id}", params=self.stack.durable_params)
                if durable.status_code == 200:
                    custom = durable.json().get("customStatus")
                    self.largest_custom_status = max(self.largest_custom_status, len(json.dumps(custom)))
                self.stop.wait(0.25)


def _start(stack: LocalStack, path: Path) -> str:
    api = TranscriptionApi(stack.base_url, stack.function_key)
    try:
        return upload_file(api, path).job_id
    finally:
        api.close()


def _wait(stack: LocalStack, job_id: str, timeout_s: float, until: set[str]) -> dict[str, Any]:
    timeout_s = scaled(timeout_s)  # tests/support/speed.py: this machine's pace
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=stack.base_url, headers={"x-functions-key": stack.function_key}, timeout=60) as http:
        while time.monotonic() < deadline:
            body = http.get(f"/api/jobs/{job_id}").json()
            job = body.get("job") or body  # a failed or canceled job comes back inside its problem+json
            if job.get("status") in until:
                return dict(job)
            time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not reach {until} in {timeout_s:.0f} s")


def test_a_thousand_segments_complete_with_a_redispatch(stack: LocalStack, tmp_path: Path) -> None:
    job_id = _start(stack, silent_wav(tmp_path / "long-silence.wav", SEGMENTS))
    watcher = Watcher(stack, job_id)
    watcher.start()
    try:
        job = _wait(stack, job_id, 600, {"completed", "failed"})
    finally:
        watcher.stop.set()
        watcher.join()
    assert job["status"] == "completed", job
    # Every segment counted once: progress never passed the total, and ended exactly at it.
    assert max(watcher.done_counts) <= SEGMENTS and watcher.done_counts == sorted(watcher.done_counts)
    blobs = BlobServiceClient.from_connection_string(stack.connection_string)
    names = [b.name for b in blobs.get_container_client("segments").list_blobs(name_starts_with=f"{job_id}/")]
    assert len([n for n in names if "/inflight/" not in n]) == SEGMENTS  # one result each (beside each taken mark)
    logs = "\n".join(w.log_tail(100_000) for w in stack.workers)
    assert sum(f"swallowed job_id={job_id}" in line for line in logs.splitlines()) == len(SWALLOWED)
    assert watcher.largest_custom_status < CUSTOM_STATUS_LIMIT / 4  # bounded whatever the segment count
    assert set(watcher.statuses) <= {200, 202}  # never a 5xx while the job ran
    latencies = sorted(watcher.latencies)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(f"status API during the job: p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    # The clean-up ends and purges every batch once the job is done.
    _assert_batches_gone(stack, job_id, 10)


def test_a_cancel_in_the_middle_ends_the_job_and_its_batches(stack: LocalStack, tmp_path: Path) -> None:
    job_id = _start(stack, silent_wav(tmp_path / "cancel-me.wav", 450))  # 450 segments, 5 batches
    headers = {"x-functions-key": stack.function_key}
    with httpx.Client(base_url=stack.base_url, headers=headers, timeout=60) as http:
        deadline = time.monotonic() + scaled(300)
        while True:
            job = http.get(f"/api/jobs/{job_id}").json()
            if (job.get("progress") or {}).get("segments_done", 0) >= 125:
                break
            assert job["status"] not in ("completed", "failed"), job
            assert time.monotonic() < deadline, "the job never got going"
            time.sleep(0.2)
        assert http.delete(f"/api/jobs/{job_id}").status_code == 202
    job = _wait(stack, job_id, 60, {"canceled"})
    assert job["status"] == "canceled"
    _assert_batches_gone(stack, job_id, 5)
    jobs_queue = QueueClient.from_connection_string(stack.connection_string, "segment-jobs")
    deadline = time.monotonic() + scaled(60)
    while jobs_queue.get_queue_properties().approximate_message_count:  # workers skip the rest
        assert time.monotonic() < deadline, "segments of the canceled job stayed queued"
        time.sleep(0.5)


def _assert_batches_gone(stack: LocalStack, job_id: str, batches: int) -> None:
    """Every batch ended and its history purged (404), within the clean-up's time."""
    with httpx.Client(base_url=stack.base_url, params=stack.durable_params, timeout=30) as http:
        deadline = time.monotonic() + scaled(60)
        for k in range(batches):
            while (code := http.get(f"{HOOK}/{batch_instance_id(job_id, k)}").status_code) != 404:
                assert time.monotonic() < deadline, f"batch {k} still there ({code})"
                time.sleep(0.5)
