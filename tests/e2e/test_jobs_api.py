"""``/api/jobs/{id}`` through real jobs: the 202/200/4xx contract Logic Apps relies on, cancel, transcripts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from client.api import TranscriptionApi
from client.uploads import upload_file
from devhost.stack import LocalStack

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(env={"TRANSCRIBE_EXPECTED_WORKERS": "2"}, workers=2, worker_threads=1) as running:
        yield running


@pytest.fixture
def http(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, headers={"x-functions-key": stack.function_key}, timeout=30) as c:
        yield c


def upload(stack: LocalStack, name: str) -> str:
    api = TranscriptionApi(stack.base_url, stack.function_key)
    try:
        return upload_file(api, DATA / name).job_id
    finally:
        api.close()


def poll(http: httpx.Client, job_id: str, timeout_s: float = 180) -> tuple[httpx.Response, list[httpx.Response]]:
    """A Logic Apps HTTP action: follow Location while the answer is 202, sleeping exactly Retry-After."""
    url, seen = f"/api/jobs/{job_id}", []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = http.get(url)
        if response.status_code != 202:
            return response, seen
        seen.append(response)
        url = response.headers["location"]
        time.sleep(int(response.headers["retry-after"]))
    raise AssertionError(f"job {job_id} still running after {timeout_s} s")


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def test_a_good_file_polls_202_then_200_with_links(stack: LocalStack, http: httpx.Client) -> None:
    job_id = upload(stack, "speech_16k_mono.wav")
    done, running = poll(http, job_id)
    assert running, "the job was never seen running"
    for response in running:
        assert response.headers["location"] == f"{stack.base_url}/api/jobs/{job_id}"
        assert 2 <= int(response.headers["retry-after"]) <= 60
        assert response.json()["status"] in ("queued", "transcribing", "merging")
    assert done.status_code == 200
    body = done.json()
    assert body["status"] == "completed" and body["error"] is None
    result = body["result"]
    assert result["words"] > 40 and result["language"] == "en" and result["model"] == "tiny.en"
    assert result["turnaround_s"] > 0 and result["rtfx"] > 1
    text = httpx.get(result["transcripts"]["txt"]).text  # the read link works without any key
    assert "farm" in text
    inline = http.get(f"/api/jobs/{job_id}/transcript", params={"format": "txt"})
    assert inline.status_code == 200 and inline.text == text
    assert inline.headers["content-type"].startswith("text/plain")
    assert "runtime/webhooks" not in done.text and "code=" not in done.text  # no Durable URLs or keys


def test_a_corrupt_file_ends_with_a_final_4xx_problem(stack: LocalStack, http: httpx.Client) -> None:
    job_id = upload(stack, "not_audio.wav")
    done, _ = poll(http, job_id)
    body = problem(done, 422, "job_failed")
    assert body["job_error_code"] == "corrupt_audio"
    assert body["job"]["status"] == "failed"


def test_an_unfinished_upload_is_202_and_polled_slowly(stack: LocalStack, http: httpx.Client) -> None:
    session = http.post("/api/uploads", json={"filename": "later.wav", "size_bytes": 1000}).json()
    response = http.get(f"/api/jobs/{session['job_id']}")
    assert response.status_code == 202
    assert response.json()["status"] == "awaiting_upload"
    assert response.headers["retry-after"] == "30"


def test_cancel_is_final_and_idempotent(stack: LocalStack, http: httpx.Client) -> None:
    job_id = upload(stack, "long.flac")
    first = http.delete(f"/api/jobs/{job_id}")
    assert first.status_code == 202 and first.json()["status"] == "canceled"
    assert http.delete(f"/api/jobs/{job_id}").status_code == 202
    problem(http.get(f"/api/jobs/{job_id}"), 409, "job_canceled")
    problem(http.get(f"/api/jobs/{job_id}/transcript"), 409, "transcript_not_ready")


def test_finished_jobs_cannot_be_canceled_and_bad_requests_are_problems(stack: LocalStack, http: httpx.Client) -> None:
    job_id = upload(stack, "speech.opus")
    poll(http, job_id)
    problem(http.delete(f"/api/jobs/{job_id}"), 409, "job_finished")
    problem(http.get(f"/api/jobs/{job_id}/transcript", params={"format": "docx"}), 422, "validation_error")
    problem(http.get("/api/jobs/01a22308-92f9-719f-87ae-a00945090e9e"), 404, "job_not_found")
    problem(http.delete("/api/jobs/not-a-job"), 404, "job_not_found")
    assert httpx.get(f"{stack.base_url}/api/jobs/{job_id}").status_code == 401  # keys still required


def test_the_client_waits_and_downloads(stack: LocalStack, tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    job_id = upload(stack, "speech.m4a")
    env = dict(os.environ, TRANSCRIBE_API_URL=stack.base_url, TRANSCRIBE_API_KEY=stack.function_key)

    def client(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "client", *args]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=True)

    done = client("wait", job_id, "--out", str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"transcript.{x}" for x in ("json", "srt", "txt", "vtt")]
    assert (tmp_path / "transcript.vtt").read_text().startswith("WEBVTT")
    # A person reads a summary and where the files went; the read links only with --json.
    assert done.stdout.startswith(f"Job {job_id} completed: ") and str(tmp_path / "transcript.srt") in done.stdout
    assert "sig=" not in done.stdout and "Traceback" not in done.stderr
    as_json = client("wait", job_id, "--json")
    assert json.loads(as_json.stdout)["status"] == "completed"
