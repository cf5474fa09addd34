"""Blob trigger on committed uploads: check the blob against its upload session, start ``transcription``.

Event Grid delivers at least once, so this is idempotent: the instance id is the job id, and only the commit that
moves the job out of ``awaiting_upload`` (an ETag-guarded update of the record) starts anything. A job that is
already queued, running, finished, canceled or refused (``size_mismatch`` is final) ignores later commits: the
upload SAS stays valid for its hour, but nothing written with it after the commit is ever read. The version that
was checked is frozen as a blob snapshot (metadata only, no copy), and every later read (probe, workers) is of
that snapshot, so an overwrite mid-job cannot mix two recordings. The ``BlobClient`` binding gives us the blob's
properties without reading a byte of audio.

A session opened with a file fingerprint is also checked block by block: the committed list must be exactly the
session's tagged ids, in order, or the commit holds blocks of another file (or of another version of this one) and
the job is refused with ``file_changed`` (final) instead of transcribing a splice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob
from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError

from functions.pipeline.payloads import JobInput
from shared.azure.paths import UPLOADS_TRIGGER_PATH, upload_job_id
from shared.blocks import commit_is_whole_plan
from shared.config import Settings, get_settings
from shared.errors import ErrorCode, PermanentError
from shared.ids import is_job_id
from shared.jobs import lifecycle as job_lifecycle
from shared.jobs.records import JobRecord, JobStatus
from shared.languages import AUTO
from shared.telemetry import job_metrics, tracing
from shared.telemetry.names import Attr, Span
from shared.uploads.sessions import session_plan

bp = df.Blueprint()
logger = logging.getLogger(__name__)


# The container is an app setting (a %...% binding expression, resolved by the host at start-up): it must be set
# wherever the app runs (infra/bicep, local.settings.json, the one-machine stack), as Azure refuses to index a
# binding whose setting is missing.
UPLOADS_PATH = UPLOADS_TRIGGER_PATH


@bp.blob_trigger(arg_name="upload", path=UPLOADS_PATH, connection="Storage", source=func.BlobSource.EVENT_GRID)
@bp.durable_client_input(client_name="client")
async def ingest(upload: blob.BlobClient, client: df.DurableOrchestrationClient) -> None:
    from functions.pipeline.activities import jobs

    job_id = upload_job_id(upload.blob_name)
    if not is_job_id(job_id):
        logger.warning("ignoring a blob outside any upload session: %s", upload.blob_name[:200])
        return
    try:
        record = await asyncio.to_thread(jobs().get, job_id)
    except PermanentError:
        logger.warning("ignoring an upload for an unknown job job_id=%s", job_id)
        return
    parent = record.trace.job if record.trace else None
    with tracing.span(Span.INGEST, parent, {Attr.JOB_ID: job_id, Attr.BYTES: record.size_bytes}, tracing.CONSUMER):
        await _ingest(upload, client, record)


async def _ingest(upload: blob.BlobClient, client: df.DurableOrchestrationClient, record: JobRecord) -> None:

    job_id = record.job_id
    if upload.blob_name != record.blob_name:
        logger.warning("ignoring a blob that is not the session's own job_id=%s", job_id)
        return
    if record.status != JobStatus.AWAITING_UPLOAD:
        if record.status == JobStatus.QUEUED:  # claimed, maybe by a host that died before starting: finish the start
            await _start_if_missing(client, record)
        else:
            logger.info("ignoring a commit for a job that is %s job_id=%s", record.status.value, job_id)
        return
    properties = await asyncio.to_thread(upload.get_blob_properties)
    if properties.size != record.size_bytes:
        message = f"the upload is {properties.size} bytes, but the session announced {record.size_bytes}"
        await asyncio.to_thread(_refuse, record, ErrorCode.SIZE_MISMATCH, message)
        logger.warning("size mismatch job_id=%s", job_id)
        return
    if not await asyncio.to_thread(_blocks_are_the_sessions, upload, record):
        message = (
            "the committed blocks are not all from the file this upload session was opened for (blocks of another "
            "file or another version of this one, or not exactly the ids 0 to n-1 tagged with the session's "
            "block_id_tag, in order); nothing was transcribed: start a new upload"
        )
        await asyncio.to_thread(_refuse, record, ErrorCode.FILE_CHANGED, message)
        logger.warning("commit of another file's blocks refused job_id=%s", job_id)
        return
    try:
        snapshot = await asyncio.to_thread(
            upload.create_snapshot, etag=properties.etag, match_condition=MatchConditions.IfNotModified
        )
    except ResourceModifiedError:
        logger.info("the upload changed again before it was frozen; its own event follows job_id=%s", job_id)
        return
    source = {"etag": properties.etag, "snapshot": snapshot["snapshot"]}
    committed_at = properties.last_modified.astimezone(UTC)
    claimed = await asyncio.to_thread(_claim, job_id, committed_at, source)
    if claimed is None:
        logger.info("another delivery of this commit started the job job_id=%s", job_id)
        return
    job_metrics.job_started(claimed.filename, claimed.size_bytes)
    await _start_if_missing(client, claimed)


def _blocks_are_the_sessions(upload: blob.BlobClient, record: JobRecord) -> bool:
    """A fingerprinted session's commit must be exactly its tagged ids in order. Read before the snapshot, which
    is taken only if the blob has not changed since its properties were read, so the list checked is of the
    version frozen. Sessions without a fingerprint keep the plain protocol (any blocks that add up)."""
    if record.file_fingerprint is None:
        return True
    committed, _ = upload.get_block_list("committed")
    return commit_is_whole_plan(session_plan(record), (b.id for b in committed))


def _claim(job_id: str, committed_at: datetime, source: dict[str, str]) -> JobRecord | None:
    """``awaiting_upload`` → ``queued`` with the frozen version, once: ``None`` when someone else got there first
    (another delivery, or a cancel)."""
    from functions.pipeline.activities import jobs

    won = False

    def change(record: JobRecord) -> JobRecord:
        nonlocal won
        won = record.status == JobStatus.AWAITING_UPLOAD
        return job_lifecycle.claimed(record, committed_at, source, datetime.now(UTC))

    record = jobs().update(job_id, change)
    return record if won else None


def _refuse(record: JobRecord, code: ErrorCode, message: str) -> None:
    """Final: the commit is not the session's (``shared/jobs/lifecycle.py``: ``refused``; a job that is no longer
    awaiting its upload keeps its state, a cancel won the race)."""
    from functions.pipeline.activities import jobs

    jobs().update(record.job_id, lambda current: job_lifecycle.refused(current, code, message, datetime.now(UTC)))
    job_metrics.job_finished(record.filename, JobStatus.FAILED.value, code.slug, 0.0, 0.0, active=False)


async def _start_if_missing(client: df.DurableOrchestrationClient, record: JobRecord) -> None:
    existing = await client.get_status(record.job_id)
    if existing and existing.runtime_status is not None:
        logger.info("orchestration already exists job_id=%s status=%s", record.job_id, existing.runtime_status)
        return
    if record.committed_at is None or record.source is None:
        return
    await client.start_new(
        "transcription",
        instance_id=record.job_id,
        client_input=orchestration_input(record, record.committed_at.isoformat(), get_settings()),
    )
    logger.info("transcription started job_id=%s", record.job_id)


def orchestration_input(record: JobRecord, committed_at: str, settings: Settings) -> dict[str, Any]:
    """The ``transcription`` orchestration's input, as JSON (``functions/pipeline/payloads.py``: ``JobInput``)."""
    source = record.source or {}
    job = JobInput(
        job_id=record.job_id,
        filename=record.filename,
        container=settings.uploads_container,
        blob=record.blob_name,
        etag=source.get("etag"),
        snapshot=source.get("snapshot"),
        size_bytes=record.size_bytes,
        language=None if record.language in (None, AUTO) else record.language,
        language_candidates=record.language_candidates,
        task=record.task,
        audio_stream=record.audio_stream,  # probe_audio: the caller's pick, else the stream with sound
        model=settings.model,
        window_s=settings.segment_window_s,
        overlap_s=settings.segment_overlap_s,
        min_window_s=settings.segment_min_window_s,
        workers=settings.expected_workers,
        segment_timeout_s=settings.segment_timeout_s,
        segment_queue_timeout_s=settings.segment_queue_timeout_s,
        max_attempts=settings.segment_max_attempts,
        batch_size=settings.segment_batch_size,
        committed_at=datetime.fromisoformat(committed_at),
        callback=bool(record.callback_url),
        webhook_attempts=settings.webhook_attempts,
        webhook_backoff_s=settings.webhook_backoff_s,
        trace=job_trace(record),
    )
    return job.wire()


def job_trace(record: JobRecord) -> dict[str, str | None]:
    """The trace context the orchestration carries: the job span's, the caller's, this ingest span's (the
    orchestration span's parent) and the orchestration span's own ids, chosen now so that replays agree."""
    job = record.trace.job if record.trace else tracing.new_traceparent()
    return {
        "job": job,
        "caller": record.trace.caller if record.trace else None,
        "ingest": tracing.current_traceparent(),
        "orchestration": tracing.new_traceparent(job),
        "created_at": (
            record.trace.started_at if record.trace and record.trace.started_at else record.created_at
        ).isoformat(),
    }
