"""A job that is final stays final: later commits, cancels and outside terminations never bring it back or strand it.

The stack has no workers, so a started job stays "transcribing" for as long as a test needs; what matters here is
what the blob trigger, the orchestration and the status API do around it. Bytes go straight to Blob Storage with
the session's SAS, as a client would send them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.storage.blob import BlobBlock, BlobClient

from devhost.stack import LocalStack
from shared.blocks import block_name
from tests.support.speed import scaled

DATA = Path(__file__).resolve().parent.parent / "data"
HOOK = "/runtime/webhooks/durabletask/instances"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(env={"TRANSCRIBE_SEGMENT_TIMEOUT_S": "600"}, workers=0) as running:
        yield running


@pytest.fixture
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, headers={"x-functions-key": stack.function_key}, timeout=30) as c:
        yield c


def new_session(api: httpx.Client, size: int, name: str = "talk.wav") -> dict[str, Any]:
    response = api.post("/api/uploads", json={"filename": name, "size_bytes": size})
    assert response.status_code == 201, response.text
    return dict(response.json())


def put_blocks(session: dict[str, Any], data: bytes) -> BlobClient:
    blob = BlobClient.from_blob_url(session["upload"]["url"])
    size = session["upload"]["block_size"]
    for i in range(0, max(len(data), 1), size):
        blob.stage_block(block_name(i // size), data[i : i + size])
    return blob


def commit(blob: BlobClient, data: bytes, block_size: int) -> None:
    blocks = [BlobBlock(block_name(i)) for i in range(max(1, -(-len(data) // block_size)))]
    blob.commit_block_list(blocks)


def upload(session: dict[str, Any], data: bytes) -> BlobClient:
    blob = put_blocks(session, data)
    commit(blob, data, session["upload"]["block_size"])
    return blob


def job(api: httpx.Client, job_id: str) -> httpx.Response:
    return api.get(f"/api/jobs/{job_id}")


def orchestration(stack: LocalStack, job_id: str) -> int:
    return httpx.get(f"{stack.base_url}{HOOK}/{job_id}", params=stack.durable_params).status_code


def settle(seconds: float = 3.0) -> None:
    """Long enough for the blob trigger (sub-second polling) to have acted on a commit."""
    time.sleep(seconds)


def wait_for(api: httpx.Client, job_id: str, status: str, timeout_s: float = 30) -> dict[str, Any]:
    timeout_s = scaled(timeout_s)  # tests/support/speed.py: this machine's pace
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = job(api, job_id).json()
        if body.get("status") == status or (body.get("job") or {}).get("status") == status:
            return dict(body)
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {status}")


def test_a_commit_after_cancel_does_not_revive_the_job(api: httpx.Client, stack: LocalStack) -> None:
    audio = (DATA / "speech_16k_mono.wav").read_bytes()
    session = new_session(api, len(audio))
    job_id = session["job_id"]
    blob = put_blocks(session, audio)
    assert api.delete(f"/api/jobs/{job_id}").status_code == 202
    commit(blob, audio, session["upload"]["block_size"])  # the first SAS still writes: Azure cannot revoke it
    settle()
    response = job(api, job_id)
    assert (response.status_code, response.json()["code"]) == (409, "job_canceled")
    assert orchestration(stack, job_id) == 404, "the commit started an orchestration for a canceled job"
    uploads = api.get(f"/api/uploads/{job_id}").json()
    assert (uploads["upload_state"], uploads["upload"]) == ("closed", None)


def test_a_canceled_job_that_never_uploaded_says_its_upload_is_closed(api: httpx.Client) -> None:
    job_id = new_session(api, 1000)["job_id"]
    assert api.delete(f"/api/jobs/{job_id}").status_code == 202
    uploads = api.get(f"/api/uploads/{job_id}").json()
    assert (uploads["upload_state"], uploads["upload"], uploads["committed_bytes"]) == ("closed", None, 0)


def test_a_size_mismatch_is_final_even_if_the_right_size_follows(api: httpx.Client, stack: LocalStack) -> None:
    audio = (DATA / "speech_16k_mono.wav").read_bytes()
    session = new_session(api, len(audio))
    job_id = session["job_id"]
    upload(session, audio[: len(audio) // 2])
    failed = wait_for(api, job_id, "failed")
    assert failed["job_error_code"] == "size_mismatch"
    upload(session, audio)  # the right bytes, with the same SAS
    settle()
    response = job(api, job_id)
    assert (response.status_code, response.json()["job_error_code"]) == (422, "size_mismatch")
    assert orchestration(stack, job_id) == 404


def test_a_second_commit_during_the_job_is_ignored(api: httpx.Client, stack: LocalStack) -> None:
    """The job reads the snapshot taken of the first commit; the second one starts nothing."""
    audio = (DATA / "speech_16k_mono.wav").read_bytes()
    session = new_session(api, len(audio))
    job_id = session["job_id"]
    upload(session, audio)
    wait_for(api, job_id, "transcribing")
    upload(session, bytes(len(audio)))  # same size, all zeros
    settle()
    status = httpx.get(f"{stack.base_url}{HOOK}/{job_id}", params=stack.durable_params).json()
    assert status["runtimeStatus"] == "Running" and status["input"].count("snapshot") == 1
    assert '"snapshot": null' not in status["input"]


def test_an_orchestration_terminated_from_outside_leaves_no_job_running(api: httpx.Client, stack: LocalStack) -> None:
    """Someone terminates the instance through the durable API: the status API settles the job as failed with
    ``orchestration_lost`` instead of answering 202 forever."""
    audio = (DATA / "speech_16k_mono.wav").read_bytes()
    session = new_session(api, len(audio))
    job_id = session["job_id"]
    upload(session, audio)
    wait_for(api, job_id, "transcribing")
    terminate = httpx.post(
        f"{stack.base_url}{HOOK}/{job_id}/terminate", params={**stack.durable_params, "reason": "operator"}
    )
    assert terminate.status_code == 202
    deadline = time.monotonic() + scaled(15)
    while (response := job(api, job_id)).status_code == 202:
        assert time.monotonic() < deadline, "the job still says it is running"
        time.sleep(0.2)
    assert (response.status_code, response.json()["job_error_code"]) == (422, "orchestration_lost")
    listed = api.get("/api/jobs", params={"status": "failed"}).json()["jobs"]
    assert job_id in {j["job_id"] for j in listed}  # the record itself was settled, not only this answer


def test_the_uploads_container_is_a_setting_the_blob_trigger_follows() -> None:
    """The trigger's path is %TRANSCRIBE_UPLOADS_CONTAINER%/..., so an operator who names the container otherwise
    still gets jobs started (a literal "uploads/" in the binding would watch a container nobody writes to)."""
    with (
        LocalStack(env={"TRANSCRIBE_UPLOADS_CONTAINER": "audio-in"}, workers=0) as other,
        httpx.Client(base_url=other.base_url, headers={"x-functions-key": other.function_key}, timeout=30) as api,
    ):
        audio = (DATA / "speech_16k_mono.wav").read_bytes()
        session = new_session(api, len(audio))
        assert "/audio-in/" in session["upload"]["url"]
        upload(session, audio)
        wait_for(api, session["job_id"], "transcribing")
