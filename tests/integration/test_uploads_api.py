"""POST/GET /api/uploads through the devhost against a real Azurite."""

from __future__ import annotations

import concurrent.futures
import time
import uuid

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobBlock, BlobClient, BlobServiceClient

from devhost.stack import LocalStack
from shared.blocks import MIB, block_name, block_tag
from shared.ids import is_job_id
from shared.jobs.records import TAGGED_BLOCK_IDS

GOOD = {"filename": "talk.wav", "size_bytes": 20 * MIB}


def _problem(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == f"urn:transcription:error:{code}"
    assert body["title"] and body["detail"]
    return body


def test_create_returns_a_session_with_a_block_plan(api: httpx.Client, blob_service: BlobServiceClient) -> None:
    response = api.post("/api/uploads", json={**GOOD, "language": "en", "metadata": {"case": "A-1"}})
    assert response.status_code == 201, response.text
    session = response.json()
    assert is_job_id(session["job_id"])
    assert session["status"] == "awaiting_upload"
    assert session["upload_state"] == "open"
    assert session["content_type"] == "audio/wav"
    assert session["metadata"] == {"case": "A-1"}
    upload = session["upload"]
    assert (upload["block_size"], upload["block_count"]) == (8 * MIB, 3)
    assert f"/uploads/{session['job_id']}/talk.wav?" in upload["url"]
    assert "sp=cw" in upload["url"]
    assert session["status_url"].endswith(f"/api/jobs/{session['job_id']}")
    assert response.headers["location"] == session["upload_status_url"]
    record = blob_service.get_blob_client("jobs", f"records/{session['job_id']}.json").download_blob().readall()
    assert b'"awaiting_upload"' in record


def test_preferred_block_size_is_honoured(api: httpx.Client) -> None:
    session = api.post("/api/uploads", json={**GOOD, "block_size_bytes": 2 * MIB}).json()
    assert (session["upload"]["block_size"], session["upload"]["block_count"]) == (2 * MIB, 10)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b"[1, 2]", 422, "validation_error"),
        (b'{"size_bytes": 10}', 422, "validation_error"),
        (b'{"filename": "a.wav"}', 422, "validation_error"),
        (b'{"filename": "a.wav", "size_bytes": 10, "colour": "red"}', 422, "validation_error"),
        (b'{"filename": "a.wav", "size_bytes": "10"}', 422, "validation_error"),
        (b'{"filename": "a.wav", "size_bytes": 0}', 422, "validation_error"),
        (b'{"filename": "a.wav", "size_bytes": -5}', 422, "validation_error"),
        (b'{"filename": "a.wav", "size_bytes": 10, "language": "english"}', 422, "validation_error"),
        (b'{"filename": "a.wav", "size_bytes": 10, "block_size_bytes": 1000}', 422, "validation_error"),
        (b'{"filename": "a.wav", "size_bytes": 10000000000000000}', 413, "file_too_large"),
        (b'{"filename": "notes.txt", "size_bytes": 10}', 415, "unsupported_format"),
        (
            b'{"filename": "a.wav", "size_bytes": 10, "content_type": "text/html"}',
            415,
            "unsupported_media_type",
        ),
        (
            b'{"filename": "a.wav", "size_bytes": 10, "content_type": "audio/mpeg"}',
            422,
            "content_type_mismatch",
        ),
        (b'{"filename": "../../etc/cron.d/x.wav", "size_bytes": 10}', 422, "invalid_filename"),
        (b'{"filename": "a\\\\b.wav", "size_bytes": 10}', 422, "invalid_filename"),
        (b'{"filename": "a\\u0000.wav", "size_bytes": 10}', 422, "invalid_filename"),
        ('{"filename": "a\uff0fb.wav", "size_bytes": 10}'.encode(), 422, "invalid_filename"),
        ('{"filename": "x\u202evaw.mp3", "size_bytes": 10}'.encode(), 422, "invalid_filename"),
        (('{"filename": "' + "a" * 300 + '.wav", "size_bytes": 10}').encode(), 422, "invalid_filename"),
        (
            b'{"filename": "a.wav", "size_bytes": 10, "pad": "' + b"x" * 70000 + b'"}',
            413,
            "request_too_large",
        ),
        # 5,000 nested arrays in 10 KB: a RecursionError in the JSON parser, which was a 500
        (
            b'{"filename": "a.wav", "size_bytes": 10, "metadata": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
            400,
            "invalid_json",
        ),
        (
            b'{"filename": "a.wav", "size_bytes": 10, "metadata": {"a": ' + b"[" * 500 + b"]" * 500 + b"}}",
            422,
            "validation_error",
        ),
    ],
)
def test_bad_input_gets_a_problem_with_a_stable_code(api: httpx.Client, body: bytes, status: int, code: str) -> None:
    response = api.post("/api/uploads", content=body, headers={"content-type": "application/json"})
    problem = _problem(response, status, code)
    assert problem["instance"] == "/api/uploads"


def test_validation_problems_name_the_fields(api: httpx.Client) -> None:
    response = api.post("/api/uploads", json={"filename": "a.wav", "size_bytes": 0, "colour": "red"})
    fields = {e["field"] for e in _problem(response, 422, "validation_error")["errors"]}
    assert fields == {"size_bytes", "colour"}


def test_too_large_says_the_limit(api: httpx.Client) -> None:
    response = api.post("/api/uploads", json={"filename": "a.wav", "size_bytes": 10**16})
    assert _problem(response, 413, "file_too_large")["max_size_bytes"] == 100 * 1024**3


def test_bad_input_creates_no_job(api: httpx.Client, blob_service: BlobServiceClient) -> None:
    before = sum(1 for _ in blob_service.get_container_client("jobs").list_blobs(name_starts_with="records/"))
    api.post("/api/uploads", json={"filename": "../x.wav", "size_bytes": 10})
    after = sum(1 for _ in blob_service.get_container_client("jobs").list_blobs(name_starts_with="records/"))
    assert after == before


# Fixed ids only: pytest-xdist's two processes must collect the same test names (a fresh uuid4 differed).
@pytest.mark.parametrize(
    "job_id",
    ["6f0c1e7a-2b4d-4c8e-9a51-3d7f2e8b6c40", "01a22308-92f9-719f-87ae-a00945090e9e", "not-an-id", "...", "%27%3B--"],
)
def test_unknown_jobs_are_404_problems(api: httpx.Client, job_id: str) -> None:
    _problem(api.get(f"/api/uploads/{job_id}"), 404, "job_not_found")


def test_same_idempotency_key_gives_the_same_session(api: httpx.Client) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post("/api/uploads", json=GOOD, headers=key)
    second = api.post("/api/uploads", json=GOOD, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json()["job_id"] == second.json()["job_id"]
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"


def test_idempotency_key_with_a_different_body_is_refused(api: httpx.Client) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post("/api/uploads", json=GOOD, headers=key).json()
    response = api.post("/api/uploads", json={**GOOD, "size_bytes": 5}, headers=key)
    assert _problem(response, 422, "idempotency_key_reused")["job_id"] == first["job_id"]


def test_invalid_idempotency_key_is_refused(api: httpx.Client) -> None:
    _problem(
        api.post("/api/uploads", json=GOOD, headers={"Idempotency-Key": "x" * 300}),
        400,
        "invalid_idempotency_key",
    )


def test_concurrent_requests_with_one_key_make_one_job(api: httpx.Client) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: api.post("/api/uploads", json=GOOD, headers=key), range(8)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["job_id"] for r in responses}) == 1


def _stage(url: str, indices: list[int], sizes: dict[int, int]) -> BlobClient:
    blob = BlobClient.from_blob_url(url)
    for i in indices:
        blob.stage_block(block_name(i), b"\0" * sizes.get(i, MIB))
    return blob


def test_get_reports_staged_blocks_then_the_commit(api: httpx.Client) -> None:
    session = api.post(
        "/api/uploads", json={"filename": "a.flac", "size_bytes": 3 * MIB + 10, "block_size_bytes": MIB}
    ).json()
    job = session["job_id"]
    blob = _stage(session["upload"]["url"], [0, 1, 3], {3: 10})
    blob.stage_block(block_name(2), b"short")  # wrong size: must be sent again
    blob.stage_block("xyz-000002", b"\0" * MIB)  # same length as ours (Azure insists), not ours
    status = api.get(f"/api/uploads/{job}").json()
    assert status["upload_state"] == "open"
    assert status["received"] == {"blocks": 3, "bytes": 2 * MIB + 10, "ranges": [[0, 1], [3, 3]]}
    # a fresh SAS while the session is open, at least as long-lived as the first, and it writes
    assert status["upload"]["expires_at"] >= session["upload"]["expires_at"]
    BlobClient.from_blob_url(status["upload"]["url"]).stage_block(block_name(2), b"\0" * MIB)
    blob.commit_block_list([BlobBlock(block_name(i)) for i in range(4)])
    status = api.get(f"/api/uploads/{job}").json()
    assert status["upload_state"] == "committed"
    assert status["committed_bytes"] == 3 * MIB + 10
    assert status["upload"] is None


def test_every_response_is_json_and_errors_never_leak_internals(api: httpx.Client) -> None:
    response = api.post("/api/uploads", json={"filename": "a.wav", "size_bytes": 10**16})
    text = response.text.lower()
    assert "traceback" not in text and "accountkey" not in text and "devstoreaccount1" not in text


def test_a_key_claimed_by_a_request_that_died_still_gets_its_job(stack: LocalStack, api: httpx.Client) -> None:
    """The first request claimed the key, then crashed before writing the job: a retry completes it."""
    from shared.ids import new_job_id
    from shared.jobs.records import UploadRequest
    from shared.jobs.store import JobStore
    from shared.uploads.sessions import idempotency_key_hash, request_fingerprint

    key, orphan = str(uuid.uuid4()), new_job_id()
    jobs = JobStore(BlobServiceClient.from_connection_string(stack.connection_string).get_container_client("jobs"))
    assert (
        jobs.claim_idempotency_key(idempotency_key_hash(key), orphan, request_fingerprint(UploadRequest(**GOOD)))
        is None
    )
    response = api.post("/api/uploads", json=GOOD, headers={"Idempotency-Key": key})
    assert response.status_code == 201
    assert response.json()["job_id"] == orphan
    assert response.json()["upload_state"] == "open"
    assert api.get(f"/api/uploads/{orphan}").status_code == 200


# --- a session knows which file it is for (issue 22 item 2) -----------------------------------------------------------

FINGERPRINT = "v1-" + "a" * 32
OTHER_FILE = "v1-" + "b" * 32


def _final_job(api: httpx.Client, job_id: str, timeout_s: float = 60) -> httpx.Response:
    """The job once its commit has been judged: refused (a final answer) or claimed (``committed_at`` set). The
    status says ``queued`` as soon as the blob exists, before the blob trigger has looked at it."""
    deadline = time.monotonic() + timeout_s
    while (response := api.get(f"/api/jobs/{job_id}")).status_code == 202 and response.json()["committed_at"] is None:
        assert time.monotonic() < deadline, f"the commit of {job_id} was not judged in {timeout_s} s"
        time.sleep(0.2)
    return response


def _fingerprinted_session(api: httpx.Client) -> dict:
    body = {"filename": "a.flac", "size_bytes": 3 * MIB, "block_size_bytes": MIB, "file_fingerprint": FINGERPRINT}
    response = api.post("/api/uploads", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_fingerprinted_session_tags_its_ids_and_counts_only_its_own_blocks(api: httpx.Client) -> None:
    session = _fingerprinted_session(api)
    tag = block_tag(FINGERPRINT)
    assert session["file_fingerprint"] == FINGERPRINT
    assert (session["upload"]["block_id_tag"], session["upload"]["block_id_format"]) == (tag, TAGGED_BLOCK_IDS)
    blob = BlobClient.from_blob_url(session["upload"]["url"])
    blob.stage_block(block_name(0, tag), b"\0" * MIB)
    blob.stage_block(block_name(2, block_tag(OTHER_FILE)), b"\0" * MIB)  # staged from another file
    with pytest.raises(HttpResponseError, match="InvalidBlobOrBlock"):  # Azure: all ids of a blob have one length
        blob.stage_block(block_name(1), b"\0" * MIB)  # so a plain id cannot even be staged beside tagged ones
    status = api.get(f"/api/uploads/{session['job_id']}", params={"file_fingerprint": FINGERPRINT})
    assert status.status_code == 200, status.text
    assert status.json()["received"] == {"blocks": 1, "bytes": MIB, "ranges": [[0, 0]]}


def test_a_resume_with_another_file_is_refused_as_file_changed(api: httpx.Client) -> None:
    session = _fingerprinted_session(api)
    response = api.get(f"/api/uploads/{session['job_id']}", params={"file_fingerprint": OTHER_FILE})
    problem = _problem(response, 409, "file_changed")
    assert "the file changed" in problem["detail"] and problem["job_id"] == session["job_id"]


def test_a_commit_that_splices_another_files_blocks_is_refused(
    api: httpx.Client, blob_service: BlobServiceClient
) -> None:
    """Blocks 0-1 staged from the session's file, block 2 from another (a resume with the wrong file): the commit is
    refused with ``file_changed``, final, and no snapshot is taken for a worker to read."""
    session = _fingerprinted_session(api)
    tag, other = block_tag(FINGERPRINT), block_tag(OTHER_FILE)
    names = [block_name(0, tag), block_name(1, tag), block_name(2, other)]
    blob = BlobClient.from_blob_url(session["upload"]["url"])
    for name in names:
        blob.stage_block(name, b"\1" * MIB)
    blob.commit_block_list([BlobBlock(name) for name in names])
    response = _final_job(api, session["job_id"])
    assert (response.status_code, response.json().get("job_error_code")) == (422, "file_changed"), response.text
    container = blob_service.get_container_client("uploads")
    listed = container.list_blobs(name_starts_with=f"{session['job_id']}/", include=["snapshots"])
    assert [b.snapshot for b in listed] == [None]


def test_a_commit_of_the_sessions_own_blocks_goes_on(api: httpx.Client) -> None:
    session = _fingerprinted_session(api)
    tag = block_tag(FINGERPRINT)
    blob = BlobClient.from_blob_url(session["upload"]["url"])
    for i in range(3):
        blob.stage_block(block_name(i, tag), b"\1" * MIB)
    blob.commit_block_list([BlobBlock(block_name(i, tag)) for i in range(3)])
    response = _final_job(api, session["job_id"])
    assert response.status_code == 202 or response.json().get("job_error_code") != "file_changed", response.text


def test_a_bad_fingerprint_is_a_validation_error(api: httpx.Client) -> None:
    response = api.post("/api/uploads", json={**GOOD, "file_fingerprint": "x y"})
    assert [e["field"] for e in _problem(response, 422, "validation_error")["errors"]] == ["file_fingerprint"]
