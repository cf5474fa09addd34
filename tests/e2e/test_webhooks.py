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
    env = {"TRANSCRIBE_WEBHOOK_BACKOFF_S": "0.5", "TRANSCRIBE_WEBHOOK_ATTEMPTS": "4"}
    with LocalStack(env=env, workers=1, worker_threads=2) as running:
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
        deadline = time.monotonic() + 120
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
    assert job["webhook"]["status"] == "delivered" and job["webhook"]["attempts"] == 3
    assert "webhook_secret" not in json.dumps(job) and secret not in json.dumps(job)
    ids = {h["webhook-id"] for h, _ in receiver.received}
    assert ids == {f"msg_{created['job_id']}_completed"}  # one id across retries: receivers can deduplicate
