"""The body of POST /api/uploads (issue 22): metadata values with control or invisible characters are refused; the
caller's ``audio_stream`` is a small whole number that reaches the orchestration."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from functions.pipeline.ingest import orchestration_input
from shared.config import Settings
from shared.jobs.records import JobRecord, JobStatus, UploadRequest
from shared.uploads.sessions import request_fingerprint
from tests.faults.bad_inputs import METADATA_CASES

BODY = {"filename": "a.wav", "size_bytes": 1000}


@pytest.mark.parametrize("metadata", [pytest.param(m, id=i) for i, m in METADATA_CASES])
def test_a_control_or_invisible_character_in_a_metadata_value_is_refused(metadata: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as caught:
        UploadRequest.model_validate({**BODY, "metadata": metadata})
    assert [e["loc"] for e in caught.value.errors()] == [("metadata", next(iter(metadata)))]


@pytest.mark.parametrize(
    "value",
    ["Café résumé", "会議 2026-03-14", "\U0001f468\u200d\U0001f469\u200d\U0001f467 family", "a" * 256, ""],
)
def test_ordinary_values_are_kept(value: str) -> None:
    assert UploadRequest.model_validate({**BODY, "metadata": {"k": value}}).metadata == {"k": value}


@pytest.mark.parametrize("stream", [-1, 64, "1", 1.5, True])
def test_an_audio_stream_that_is_not_a_small_whole_number_is_refused(stream: object) -> None:
    with pytest.raises(ValidationError) as caught:
        UploadRequest.model_validate({**BODY, "audio_stream": stream})
    assert [e["loc"] for e in caught.value.errors()] == [("audio_stream",)]


def test_the_audio_stream_reaches_the_orchestration_and_an_absent_one_changes_no_idempotency_hash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("Storage", "UseDevelopmentStorage=true")
    assert request_fingerprint(UploadRequest.model_validate(BODY)) == request_fingerprint(
        UploadRequest.model_validate({**BODY, "audio_stream": None})
    )
    assert request_fingerprint(UploadRequest.model_validate({**BODY, "audio_stream": 1})) != request_fingerprint(
        UploadRequest.model_validate(BODY)
    )
    now = datetime.now(UTC)
    record = JobRecord(
        job_id="j1",
        status=JobStatus.QUEUED,
        created_at=now,
        updated_at=now,
        filename="a.mp4",
        blob_name="j1/a.mp4",
        size_bytes=1000,
        content_type="video/mp4",
        audio_stream=1,
        block_size=4 << 20,
        session_expires_at=now,
        request_fingerprint="x",
    )
    assert orchestration_input(record, now.isoformat(), Settings())["audio_stream"] == 1
