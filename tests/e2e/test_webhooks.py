"""A completed job POSTs a signed CloudEvent to the callback URL, retrying while the receiver answers 5xx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from client.api import TranscriptionApi
from client.uploads import upload_file
from devhost.stack import LocalStack
from tests.support.speed import scaled

DATA = Path(__file__).resolve().parent.parent / "data"


class Receiver(ThreadingHTTPServer):
    """A webhook receiver on loopback that fails the first ``failures`` deliveries with 503."""

    def __init__(self, failures: int) -> None:
        self.failures, self.received = failures, []  # type: ignore[var-annotated]
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.received.append((dict(self.headers), body))
                self.send_response(503 if len(outer.received) <= outer.failures else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/transcripts"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # The app asks for a model its worker does not run: transcripts must name the one that transcribed them.
    env = {"TRANSCRIBE_WEBHOOK_BACKOFF_S": "0.5", "TRANSCRIBE_WEBHOOK_ATTEMPTS": "4", "TRANSCRIBE_MODEL": "large-v3"}
    with LocalStack(env=env, workers=1, worker_threads=2, worker_args=["--model", "tiny.en"]) as running:
        yield running


def test_signed_event_is_delivered_after_retries(stack: LocalStack) -> None:
    receiver = Receiver(failures=2)
    api = TranscriptionApi(stack.base_url, stack.function_key)
    try:
        created = api.create_upload(
            {
                "filename": "speech.opus",
                "size_bytes": (DATA / "speech.opus").stat().st_size,
                "callback_url": receiver.url,
            }
        )
        secret = created["webhook_secret"]
        assert secret.startswith("whsec_")
        upload_file(api, DATA / "speech.opus", resume_job_id=created["job_id"])
        deadline = time.monotonic() + scaled(120)
        while len(receiver.received) < 3:
            assert time.monotonic() < deadline, f"only {len(receiver.received)} deliveries"
            time.sleep(0.2)
        job = httpx.get(
            f"{stack.base_url}/api/jobs/{created['job_id']}", headers={"x-functions-key": stack.function_key}
        ).json()
    finally:
        api.close()
        receiver.shutdown()
    headers, body = receiver.received[-1]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    assert (
        headers["webhook-signature"]
        == "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    )
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 120
    event = json.loads(body)
    assert (event["specversion"], event["type"], event["subject"]) == (
        "1.0",
        "transcription.job.completed",
        created["job_id"],
    )
    assert event["data"]["status"] == "completed" and event["data"]["result"]["words"] > 40
    assert event["data"]["result"]["model"] == "tiny.en"  # what the worker ran, not the app's TRANSCRIBE_MODEL
    assert event["data"]["status_url"] == f"{stack.base_url}/api/jobs/{created['job_id']}"  # absolute
    assert job["webhook"]["status"] == "delivered" and job["webhook"]["attempts"] == 3
    assert "webhook_secret" not in json.dumps(job) and secret not in json.dumps(job)
    ids = {h["webhook-id"] for h, _ in receiver.received}
    assert ids == {f"msg_{created['job_id']}_completed"}  # one id across retries: receivers can deduplicate


def test_a_failed_job_sends_the_failed_event(stack: LocalStack) -> None:
    """docs/api.md promises ``transcription.job.failed``: a file that is not audio fails with corrupt_audio and the
    receiver hears about it, with the job's error code."""
    receiver = Receiver(failures=0)
    api = TranscriptionApi(stack.base_url, stack.function_key)
    try:
        path = DATA / "not_audio.wav"
        created = api.create_upload(
            {"filename": path.name, "size_bytes": path.stat().st_size, "callback_url": receiver.url}
        )
        upload_file(api, path, resume_job_id=created["job_id"])
        deadline = time.monotonic() + scaled(60)
        while not receiver.received:
            assert time.monotonic() < deadline, "no webhook for the failed job"
            time.sleep(0.2)
    finally:
        api.close()
        receiver.shutdown()
    headers, body = receiver.received[0]
    event = json.loads(body)
    assert (event["type"], event["subject"]) == ("transcription.job.failed", created["job_id"])
    assert event["data"]["status"] == "failed" and event["data"]["error"]["code"] == "corrupt_audio"
    assert headers["webhook-id"] == f"msg_{created['job_id']}_failed"


def test_a_replayed_create_returns_the_webhook_secret_to_the_same_caller(stack: LocalStack) -> None:
    """A client that lost the first answer retries with its Idempotency-Key: without the secret again it could
    never verify a webhook."""
    body = {"filename": "a.wav", "size_bytes": 1000, "callback_url": "http://127.0.0.1:9/hook"}
    headers = {"x-functions-key": stack.function_key, "Idempotency-Key": "replay-secret-1"}
    with httpx.Client(base_url=stack.base_url, headers=headers, timeout=30) as http:
        first, again = http.post("/api/uploads", json=body), http.post("/api/uploads", json=body)
    assert (first.status_code, again.status_code, again.headers.get("idempotent-replayed")) == (201, 201, "true")
    assert first.json()["job_id"] == again.json()["job_id"]
    assert again.json()["webhook_secret"] == first.json()["webhook_secret"]
    assert first.json()["webhook_secret"].startswith("whsec_")
