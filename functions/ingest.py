"""Blob trigger on committed uploads: check the blob against its upload session, start ``transcription``.

Event Grid delivers at least once, so this is idempotent: the instance id is the job id, and a job whose
orchestration already exists is left alone. The ``BlobClient`` binding gives us the blob's properties without
reading a byte of audio.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

from shared.config import Settings, get_settings
from shared.errors import PermanentError
from shared.ids import is_job_id
from shared.models import JobError, JobRecord, JobStatus

bp = df.Blueprint()
logger = logging.getLogger(__name__)


@bp.blob_trigger(
    arg_name="upload", path="uploads/{job_id}/{name}", connection="Storage", source=func.BlobSource.EVENT_GRID
)
@bp.durable_client_input(client_name="client")
async def ingest(upload: blob.BlobClient, client: df.DurableOrchestrationClient) -> None:
    from functions.pipeline_activities import jobs

    job_id = upload.blob_name.split("/", 1)[0]
    if not is_job_id(job_id):
        logger.warning("ignoring a blob outside any upload session: %s", upload.blob_name[:200])
        return
    try:
        record = jobs().get(job_id)
    except PermanentError:
        logger.warning("ignoring an upload for an unknown job job_id=%s", job_id)
        return
    if upload.blob_name != record.blob_name:
        logger.warning("ignoring a blob that is not the session's own job_id=%s", job_id)
        return
    existing = await client.get_status(job_id)
    if existing and existing.runtime_status is not None:
        logger.info("orchestration already exists job_id=%s status=%s", job_id, existing.runtime_status)
        return
    properties = upload.get_blob_properties()
    if properties.size != record.size_bytes:
        message = f"the upload is {properties.size} bytes, but the session announced {record.size_bytes}"
        jobs().update(job_id, lambda r: _failed(r, "size_mismatch", message))
        logger.warning("size mismatch job_id=%s", job_id)
        return
    committed_at = properties.last_modified.astimezone(UTC)
    jobs().update(job_id, lambda r: r.model_copy(update={"status": JobStatus.QUEUED, "committed_at": committed_at}))
    await client.start_new(
        "transcription",
        instance_id=job_id,
        client_input=orchestration_input(record, committed_at.isoformat(), get_settings()),
    )
    logger.info("transcription started job_id=%s", job_id)


def orchestration_input(record: JobRecord, committed_at: str, settings: Settings) -> dict[str, Any]:
    return {
        "job_id": record.job_id,
        "filename": record.filename,
        "container": settings.uploads_container,
        "blob": record.blob_name,
        "size_bytes": record.size_bytes,
        "language": None if record.language in (None, "auto") else record.language,
        "model": settings.model,
        "window_s": settings.segment_window_s,
        "overlap_s": settings.segment_overlap_s,
        "min_window_s": settings.segment_min_window_s,
        "workers": settings.expected_workers,
        "segment_timeout_s": settings.segment_timeout_s,
        "max_attempts": settings.segment_max_attempts,
        "committed_at": committed_at,
        "callback": bool(record.callback_url),
        "webhook_attempts": settings.webhook_attempts,
        "webhook_backoff_s": settings.webhook_backoff_s,
    }


def _failed(record: JobRecord, code: str, message: str) -> JobRecord:
    return record.model_copy(update={"status": JobStatus.FAILED, "error": JobError(code=code, message=message)})
