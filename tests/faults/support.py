"""What the fault-injection tests share: starting jobs, waiting for them, and the checks every fault must pass.

After any fault a job must end once, with its outputs written once (or rewritten identically), every segment
counted once, and nothing left behind: no message on any queue (segment jobs, reports, batch clean-ups, poison
queues), which would be work done twice later or a job's loose end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from client.api import TranscriptionApi
from client.uploads import upload_file
from devhost.stack import LocalStack
from shared.jobs.records import JobRecord
from shared.jobs.store import JobStore
from tests.support.speed import scaled

DATA = Path(__file__).resolve().parent.parent / "data"
HOOK = "/runtime/webhooks/durabletask/instances"
NOOP = "tests.support.noop_worker"
FORMATS = ("json", "txt", "srt", "vtt")


def many_segments_env(**extra: str) -> dict[str, str]:
    """1 s windows (a 60 s file is 60 segments in batches of 10): enough reports and batches that a kill lands
    mid-way, and a merge of many results."""
    return {
        "TRANSCRIBE_SEGMENT_WINDOW_S": "1",
        "TRANSCRIBE_SEGMENT_MIN_WINDOW_S": "1",
        "TRANSCRIBE_SEGMENT_OVERLAP_S": "0.1",
        "TRANSCRIBE_EXPECTED_WORKERS": "2",
        "TRANSCRIBE_SEGMENT_BATCH_SIZE": "10",
        "TRANSCRIBE_SEGMENT_TIMEOUT_S": "120",  # no redispatch by timeout: a kill's effects must show on their own
        **extra,
    }


def start_job(stack: LocalStack, path: Path, callback_url: str | None = None) -> str:
    """Upload ``path`` through the public API (the commit starts the job); returns the job id."""
    api = TranscriptionApi(stack.base_url, stack.function_key)
    try:
        if callback_url is None:
            return upload_file(api, path).job_id
        body = {"filename": path.name, "size_bytes": path.stat().st_size, "callback_url": callback_url}
        created = api.create_upload(body)
        upload_file(api, path, resume_job_id=created["job_id"])
        return str(created["job_id"])
    finally:
        api.close()


def durable_status(stack: LocalStack, instance_id: str) -> dict[str, Any] | None:
    with httpx.Client(base_url=stack.base_url, params=stack.durable_params, timeout=30) as http:
        response = http.get(f"{HOOK}/{instance_id}")
    return dict(response.json()) if response.status_code in (200, 202) else None


def wait_done(stack: LocalStack, job_id: str, timeout_s: float) -> dict[str, Any]:
    """The orchestration's final status (the durable API answers 200 only once it has ended)."""
    timeout_s = scaled(timeout_s)  # tests/support/speed.py: this machine's pace
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=stack.base_url, params=stack.durable_params, timeout=30) as http:
        while time.monotonic() < deadline:
            try:
                response = http.get(f"{HOOK}/{job_id}")
            except httpx.TransportError:  # the host is restarting
                response = None
            if response is not None and response.status_code == 200:
                return dict(response.json())
            time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s} s")


def wait_for(what: str, check: Any, timeout_s: float, every_s: float = 0.05) -> Any:
    timeout_s = scaled(timeout_s)  # tests/support/speed.py: this machine's pace
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(every_s)


def instances(stack: LocalStack) -> list[dict[str, Any]]:
    """Every orchestration instance the host knows (the durable HTTP API's list)."""
    with httpx.Client(base_url=stack.base_url, params=stack.durable_params, timeout=30) as http:
        return list(http.get(HOOK).json())


def batch_outcomes(stack: LocalStack, job_id: str) -> list[dict[str, Any]]:
    """What each batch sub-orchestration returned to the job's orchestration, from its history: ``done`` is the
    reports the batch counted, ``segments`` its size."""
    params = {**stack.durable_params, "showHistory": "true", "showHistoryOutput": "true"}
    with httpx.Client(base_url=stack.base_url, params=params, timeout=30) as http:
        history = http.get(f"{HOOK}/{job_id}").json()["historyEvents"]
    return [
        e["Result"]
        for e in history
        if e["EventType"] == "SubOrchestrationInstanceCompleted" and e.get("FunctionName") == "transcribe_batch"
    ]


def assert_each_segment_counted_once(stack: LocalStack, job_id: str, count: int) -> None:
    outcomes = batch_outcomes(stack, job_id)
    assert outcomes and all(o["done"] == o["segments"] for o in outcomes), outcomes
    assert sum(o["done"] for o in outcomes) == count


def queue_counts(stack: LocalStack) -> dict[str, int]:
    """Messages on every queue of the account, invisible ones included (a message taken and never deleted)."""
    service = QueueServiceClient.from_connection_string(stack.connection_string)
    return {
        q.name: service.get_queue_client(q.name).get_queue_properties().approximate_message_count or 0
        for q in service.list_queues()
    }


def assert_queues_drain(stack: LocalStack, timeout_s: float = 30.0, expect: dict[str, int] | None = None) -> None:
    """Every queue empties (bar ``expect``): clean-up messages are taken within a second or two of a job's end."""
    expect = expect or {}
    timeout_s = scaled(timeout_s)  # tests/support/speed.py: this machine's pace
    deadline = time.monotonic() + timeout_s
    while True:
        counts = {name: n for name, n in queue_counts(stack).items() if n != expect.get(name, 0)}
        if not counts:
            return
        assert time.monotonic() < deadline, f"messages left on queues: {counts}"
        time.sleep(0.25)


def assert_orchestrations_end(stack: LocalStack, timeout_s: float = 30.0) -> None:
    """Every orchestration ends: a job's record reaches its final status before its orchestration returns (the
    status is one of its last activities), so one looked at the instant its job ended may still be Running for a
    moment. One still running after ``timeout_s`` is a leak."""
    timeout_s = scaled(timeout_s)  # tests/support/speed.py: this machine's pace
    deadline = time.monotonic() + timeout_s
    while True:
        running = [i["instanceId"] for i in instances(stack) if i["runtimeStatus"] in ("Running", "Pending")]
        if not running:
            return
        assert time.monotonic() < deadline, f"orchestrations still running after {timeout_s} s: {running}"
        time.sleep(0.25)


def blobs(stack: LocalStack) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(stack.connection_string)


def record(stack: LocalStack, job_id: str) -> JobRecord:
    return JobStore(blobs(stack).get_container_client("jobs")).get(job_id)


def transcripts(stack: LocalStack, job_id: str) -> dict[str, bytes]:
    """The job's result files, by name: exactly the four transcripts, or the assertion says what else is there."""
    results = blobs(stack).get_container_client("results")
    names = sorted(b.name for b in results.list_blobs(name_starts_with=f"{job_id}/"))
    assert names == [f"{job_id}/transcript.{ext}" for ext in sorted(FORMATS)], names
    return {name.rsplit(".", 1)[1]: results.download_blob(name).readall() for name in names}


def segment_results(stack: LocalStack, job_id: str) -> list[str]:
    """The segment result blobs the workers wrote (progress markers under inflight/ left out)."""
    container = blobs(stack).get_container_client("segments")
    return [b.name for b in container.list_blobs(name_starts_with=f"{job_id}/") if "/inflight/" not in b.name]


def marker_text(count: int) -> str:
    """The transcript of a job whose ``--words`` noop workers each wrote ``w{index}``: every segment, once."""
    return " ".join(f"w{i}" for i in range(count))


class ProgressWatcher(threading.Thread):
    """Reads the public status of a job while it runs: progress must never count a segment twice."""

    def __init__(self, stack: LocalStack, job_id: str) -> None:
        super().__init__(daemon=True)
        self.stack, self.job_id = stack, job_id
        self.seen: list[dict[str, Any]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        headers = {"x-functions-key": self.stack.function_key}
        with httpx.Client(base_url=self.stack.base_url, headers=headers, timeout=30) as http:
            while not self.stop.is_set():
                try:
                    body = http.get(f"/api/jobs/{self.job_id}").json()
                except (httpx.HTTPError, ValueError):
                    body = {}
                if body.get("progress"):
                    self.seen.append(body["progress"])
                self.stop.wait(0.1)

    def overcounts(self) -> list[dict[str, Any]]:
        return [
            p
            for p in self.seen
            if p["segments_done"] > p["segments_total"]
            or p["percent"] > 100.0
            or p["audio_seconds_done"] > p["audio_seconds_total"] + 0.01
        ]


@contextmanager
def watching(stack: LocalStack, job_id: str) -> Iterator[ProgressWatcher]:
    watcher = ProgressWatcher(stack, job_id)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop.set()
        watcher.join(timeout=5)


class HoldingReceiver(ThreadingHTTPServer):
    """A webhook receiver on loopback that holds its first delivery open (until released) and answers the rest 204:
    the test kills the host while the delivery is in flight."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answered: list[int] = []
        self.first_arrived, self.release = threading.Event(), threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.received.append((dict(self.headers), body))
                if len(outer.received) == 1:
                    outer.first_arrived.set()
                    outer.release.wait(60)
                    return  # the caller is gone: no answer
                self.send_response(204)
                self.end_headers()
                outer.answered.append(204)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/transcripts"

    def close(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


def restart_host(stack: LocalStack, **env: str | None) -> None:
    """kill -9 the host, change its settings (None removes one), start it again on the same state and port."""
    stack.kill_devhost()
    for name, value in env.items():
        if value is None:
            stack.extra_env.pop(name, None)
        else:
            stack.extra_env[name] = value
    stack.start_devhost()
