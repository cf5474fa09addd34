"""Language options (issue 24) through the real HTTP API on the devhost and Azurite: ``language``,
``language_candidates`` and ``task`` are checked against the app's model when the session is created (a refusal
writes nothing), recorded on the job, carried to every segment's message, and the languages the workers hear come
back in the job's progress while it runs and in its result."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from client.api import TranscriptionApi
from client.uploads import upload_file
from devhost.stack import LocalStack
from tests.support.silence import silent_wav

GOOD = {"filename": "talk.wav", "size_bytes": 1000}
NOOP = "tests.support.noop_worker"


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert (body["code"], body["status"], body["type"]) == (code, status, f"urn:transcription:error:{code}")
    assert body["title"] and body["detail"] and body["instance"] == "/api/uploads"
    return body


def _stored(blob_service: BlobServiceClient) -> set[str]:
    """Every blob the API could have written for a session: job records, idempotency keys, uploads."""
    names = set()
    for container in ("jobs", "uploads"):
        names |= {f"{container}/{b.name}" for b in blob_service.get_container_client(container).list_blobs()}
    return names


# --- the stack's default model, tiny.en: English only ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"language": "xx"}, "unknown_language"),
        ({"language_candidates": ["en", "qq"]}, "unknown_language"),
        ({"language_candidates": ["en"]}, "invalid_language_candidates"),
        ({"language_candidates": ["en", "en"]}, "invalid_language_candidates"),  # one language, named twice
        ({"language_candidates": []}, "invalid_language_candidates"),
        ({"language_candidates": ["en", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "da", "fi"]}, None),
        ({"language": "en", "language_candidates": ["en", "de"]}, "language_conflict"),
        ({"language": "de"}, "language_not_supported"),
        ({"language_candidates": ["en", "de"]}, "language_not_supported"),
        ({"task": "translate"}, "language_not_supported"),
        ({"language": "en", "task": "translate"}, "language_not_supported"),
    ],
)
def test_what_the_model_cannot_do_is_refused_before_any_upload_and_nothing_is_written(
    api: httpx.Client, blob_service: BlobServiceClient, fields: dict[str, Any], code: str | None
) -> None:
    code = code or "invalid_language_candidates"  # 11 candidates: more than 10
    before = _stored(blob_service)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    problem = _problem(api.post("/api/uploads", json={**GOOD, **fields}, headers=key), 422, code)
    if code == "unknown_language":
        assert problem["unknown"] in (["xx"], ["qq"])
    if code == "language_not_supported":
        assert problem["model"] == "tiny.en" and "English only" in problem["detail"]
    assert _stored(blob_service) == before, "a refused request wrote something"


@pytest.mark.parametrize(
    "fields",
    [
        {"language_candidates": "de,fr"},  # a list, not a string: Swagger 2.0 connectors send the array
        {"language_candidates": ["de", 7]},
        {"language_candidates": ["German", "fr"]},
        {"task": "summarise"},
        {"task": None},
    ],
)
def test_shape_errors_stay_validation_errors(api: httpx.Client, fields: dict[str, Any]) -> None:
    response = api.post("/api/uploads", json={**GOOD, **fields})
    errors = _problem(response, 422, "validation_error")["errors"]
    assert {e["field"].split(".")[0] for e in errors} == set(fields)


def test_an_english_only_model_takes_english(api: httpx.Client) -> None:
    session = api.post("/api/uploads", json={**GOOD, "language": "en"})
    assert session.status_code == 201, session.text
    body = session.json()
    assert (body["language"], body["language_candidates"], body["task"]) == ("en", None, "transcribe")
    job = api.get(f"/api/jobs/{body['job_id']}").json()
    assert (job["language"], job["language_candidates"], job["task"]) == ("en", None, "transcribe")


# --- a multilingual model named on the app (it loads none: only the workers do) -------------------------------------


@pytest.fixture(scope="module")
def multilingual() -> Iterator[LocalStack]:
    """TRANSCRIBE_MODEL=base on the app; one stand-in worker that answers each window in the language its message
    asked for (tests/support/noop_worker.py --languages), 1 s windows in batches of 2, segment 5 slow."""
    env = {
        "TRANSCRIBE_MODEL": "base",
        "TRANSCRIBE_SEGMENT_WINDOW_S": "1",
        "TRANSCRIBE_SEGMENT_MIN_WINDOW_S": "1",
        "TRANSCRIBE_SEGMENT_OVERLAP_S": "0.1",
        "TRANSCRIBE_EXPECTED_WORKERS": "1",
        "TRANSCRIBE_SEGMENT_BATCH_SIZE": "2",
        "TRANSCRIBE_SEGMENT_TIMEOUT_S": "120",
    }
    args = ["--words", "--languages", "--slow-on", "5", "--slow-s", "10"]
    with LocalStack(env=env, workers=1, worker_module=NOOP, worker_args=args) as stack:
        yield stack


@pytest.fixture
def http(multilingual: LocalStack) -> Iterator[httpx.Client]:
    headers = {"x-functions-key": multilingual.function_key}
    with httpx.Client(base_url=multilingual.base_url, headers=headers, timeout=30) as client:
        yield client


def test_a_multilingual_model_takes_candidates_and_translation_and_records_them(http: httpx.Client) -> None:
    body = {**GOOD, "language_candidates": ["de", "fr", "de"], "task": "translate"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    created = http.post("/api/uploads", json=body, headers=key)
    assert created.status_code == 201, created.text
    session = created.json()
    assert (session["language"], session["language_candidates"], session["task"]) == (None, ["de", "fr"], "translate")
    again = http.post("/api/uploads", json=body, headers=key)  # an idempotent retry of the same request
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["job_id"] == session["job_id"]
    other = http.post("/api/uploads", json={**body, "language_candidates": ["de", "es"]}, headers=key)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    for view in (
        http.get(f"/api/uploads/{session['job_id']}").json(),
        http.get(f"/api/jobs/{session['job_id']}").json(),
    ):
        assert (view["language_candidates"], view["task"]) == (["de", "fr"], "translate")
    forced = http.post("/api/uploads", json={**GOOD, "language": "de"})
    assert forced.status_code == 201 and forced.json()["language"] == "de"
    _problem(http.post("/api/uploads", json={**GOOD, "language": "yue"}), 422, "language_not_supported")  # v3 only


def test_the_languages_heard_show_while_the_job_runs_and_in_its_result(
    multilingual: LocalStack, http: httpx.Client, tmp_path: Path
) -> None:
    """Six 1 s windows in three batches of two; the stand-in worker hears window i in candidate i % 2 (de, fr)
    for 0.2 s and takes 10 s over window 5. While it does, windows 0-4 are done: batches 0 and 1 counted by the
    job's orchestration, window 4 by the running batch 2, and the status API adds them up."""
    api = TranscriptionApi(multilingual.base_url, multilingual.function_key)
    try:
        path = silent_wav(tmp_path / "six.wav", 6)
        job_id = upload_file(api, path, language_candidates=["de", "fr"], task="translate").job_id
    finally:
        api.close()
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 90
    while (response := http.get(f"/api/jobs/{job_id}")).status_code == 202:
        assert time.monotonic() < deadline, f"job {job_id} still running"
        progress = response.json()["progress"] or {}
        if progress.get("segments_done") == 5:
            seen.append(progress)
        time.sleep(0.3)
    assert seen, "the job was never seen with five segments done (the stand-in worker is slow on the sixth)"
    heard = {e["language"]: e["seconds"] for e in seen[-1]["languages"]}
    assert heard == {"de": pytest.approx(0.6, abs=0.01), "fr": pytest.approx(0.4, abs=0.01)}
    assert [e["language"] for e in seen[-1]["languages"]] == ["de", "fr"]  # most first
    job = response.json()
    assert response.status_code == 200, job
    assert (job["language_candidates"], job["task"]) == (["de", "fr"], "translate")
    result = job["result"]
    assert [(e["language"], round(e["seconds"], 2)) for e in result["languages"]] == [("de", 0.6), ("fr", 0.6)]
    assert (result["language"], result["task"]) == ("de", "translate")
    transcript = json.loads(http.get(f"/api/jobs/{job_id}/transcript", params={"format": "json"}).content)
    assert transcript["task"] == "translate"
    # each window's message carried the candidates and the task to the worker (its word names both)
    assert [(s["text"].strip(), s["language"]) for s in transcript["segments"]] == [
        (f"w{i}-translate.", "de" if i % 2 == 0 else "fr") for i in range(6)
    ]
