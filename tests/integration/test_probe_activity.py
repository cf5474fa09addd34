"""The ``probe_audio`` activity against Azurite: the caller's pick of an audio stream (``job["audio_stream"]``)
reaches the probe, and without one the stream with sound is chosen (shared/audio/streams.py).

The pick is read from the orchestration's input, where ``functions/pipeline/ingest.py`` puts the upload's
``audio_stream``; a
stream the file does not have fails the activity with ``audio_stream_not_found``, which the orchestration records
as the job's error code.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from shared.errors import ErrorCode, PermanentError
from tests.faults.bad_inputs import two_track_mp4


def _job(blobs: BlobServiceClient, path: Path, **extra: Any) -> dict[str, Any]:
    job_id = str(uuid.uuid4())
    name = f"{job_id}/{path.name}"
    blob = blobs.get_blob_client("uploads", name)
    blob.upload_blob(path.read_bytes())
    etag = blob.get_blob_properties().etag
    return {
        "job_id": job_id,
        "container": "uploads",
        "blob": name,
        "etag": etag,
        "filename": path.name,
        "size_bytes": path.stat().st_size,
        **extra,
    }


def _probe(job: dict[str, Any]) -> dict[str, Any]:
    from functions.pipeline.activities import probe_audio

    return dict(probe_audio._function.get_user_function()(job=job))


def test_the_callers_pick_reaches_the_probe(app_storage: BlobServiceClient, tmp_path: Path) -> None:
    path = two_track_mp4(tmp_path, speech_track=1)
    assert _probe(_job(app_storage, path))["stream_index"] == 1  # the track with sound
    assert _probe(_job(app_storage, path, audio_stream=0))["stream_index"] == 0  # as asked, silent or not
    with pytest.raises(PermanentError) as caught:
        _probe(_job(app_storage, path, audio_stream=5))
    assert caught.value.code is ErrorCode.AUDIO_STREAM_NOT_FOUND
