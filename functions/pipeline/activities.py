"""Activities of the transcription orchestration. Each one is idempotent: Durable runs activities at least once.

Each takes its payload as JSON and validates it into its model (``functions/pipeline/payloads.py``); the ones that
can fail for good return a ``Failed`` outcome rather than raise (``functions/pipeline/failures.py``), and every
change of the job's status goes through ``shared/jobs/lifecycle.py``.

Heavy libraries (PyAV, soundfile, numpy) are imported inside the activities that need them, never at import time
of ``function_app.py``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
from azure.core.exceptions import ResourceModifiedError

from functions.pipeline.failures import returns_failures
from functions.pipeline.payloads import (
    AudioSource,
    DispatchRequest,
    MergeRequest,
    Sightings,
    SightingsRequest,
    StatusUpdate,
    WebhookRequest,
)
from functions.pipeline.spans import traced_activity
from shared.azure import storage
from shared.azure.paths import segment_result_blob
from shared.azure.queues import queue
from shared.config import get_settings
from shared.contracts import BATCH_CLEANUP_QUEUE, BatchCleanup, SegmentJob
from shared.errors import ErrorCode, PermanentError, TransientError
from shared.jobs import lifecycle as job_lifecycle
from shared.jobs.inflight import sightings
from shared.jobs.records import JobError, JobRecord, JobStatus, WebhookState
from shared.jobs.store import JobStore, job_store
from shared.telemetry import job_metrics, tracing

bp = df.Blueprint()
logger = logging.getLogger(__name__)


def jobs() -> JobStore:
    return job_store()


@bp.activity_trigger(input_name="update")
@traced_activity
def set_job_status(update: dict[str, Any]) -> str:
    """Move the job record along; a finished job (completed, failed, canceled) never moves back. Returns the status
    the record has afterwards, so the orchestration sees a cancel that came first."""
    return record_status(StatusUpdate.model_validate(update))


def record_status(update: StatusUpdate) -> str:
    """set_job_status's body, also called by merge_transcript, whose written transcript is the job's completion."""
    error = JobError(code=update.error.code.slug, message=update.error.message) if update.error else None
    ended = False  # did this update end the job? (a retried activity finds it already ended)

    def change(record: JobRecord) -> JobRecord:
        nonlocal ended
        after = job_lifecycle.advanced(record, update.status, datetime.now(UTC), error=error, result=update.result)
        ended = job_lifecycle.ends(record, after)
        return after

    record = jobs().update(update.job_id, change)
    logger.info("job status job_id=%s status=%s now=%s", update.job_id, update.status.value, record.status.value)
    if ended:
        _count_finished(record)
    return record.status.value


def _count_finished(record: JobRecord) -> None:
    """The job's metrics, once: turnaround from the commit, RTFx from the transcript's duration."""
    ended = record.finished_at or record.updated_at
    turnaround = (ended - record.committed_at).total_seconds() if record.committed_at else 0.0
    audio_s = float((record.result or {}).get("duration_s") or 0.0)
    code = record.error.code if record.error else None
    job_metrics.job_finished(record.filename, record.status.value, code, turnaround, audio_s)


@bp.activity_trigger(input_name="job")
@returns_failures
@traced_activity
def probe_audio(job: dict[str, Any]) -> dict[str, Any]:
    """What the committed upload holds (format, duration, the stream to transcribe), from its headers."""
    from shared.audio.blob_reader import BlobRangeReader
    from shared.audio.probe import probe

    source = AudioSource.model_validate(job)
    # The snapshot ingest took of the committed version cannot change; without one, pin reads to the ETag.
    blob = storage.container(source.container).get_blob_client(source.blob, snapshot=source.snapshot)
    etag = None if source.snapshot else source.etag
    try:
        with BlobRangeReader(blob, size=source.size_bytes, etag=etag) as reader:
            info = probe(reader, source.filename, source.audio_stream)  # the caller's pick, if any
    except ResourceModifiedError:
        raise PermanentError(ErrorCode.SOURCE_CHANGED, "the upload was replaced after it was committed") from None
    logger.info(
        "probed job_id=%s format=%s codec=%s duration_s=%.1f", source.job_id, info.format, info.codec, info.duration_s
    )
    return info.model_dump()


@bp.activity_trigger(input_name="payload")
@traced_activity
def dispatch_segments(payload: dict[str, Any]) -> int:
    """One message per window on ``segment-jobs``; a re-sent message is harmless (first result wins)."""
    settings, request = get_settings(), DispatchRequest.model_validate(payload)
    job, jobs_queue = request.job, queue(settings.segment_jobs_queue)
    traceparent = tracing.current_traceparent()  # each worker's span is a child of this dispatch
    for window in request.windows:
        message = SegmentJob(
            job_id=job.job_id,
            index=window.index,
            attempt=request.attempts[str(window.index)],
            source_container=job.container,
            source_blob=job.blob,
            source_etag=job.etag,
            source_snapshot=job.snapshot,
            audio=request.audio,
            window=window,
            model=job.model,
            language=job.language,
            language_candidates=job.language_candidates,
            task=job.task,
            result_container=settings.segments_container,
            result_blob=segment_result_blob(job.job_id, window.index),
            traceparent=traceparent,
            reply_to=request.reply_to or job.job_id,
            dispatched_at=datetime.now(UTC),
        )
        jobs_queue.send_message(message.model_dump_json().encode())
    logger.info("dispatched job_id=%s segments=%d", job.job_id, len(request.windows))
    job_metrics.backlog(jobs_queue.get_queue_properties().approximate_message_count or 0)
    return len(request.windows)


@bp.activity_trigger(input_name="payload")
@traced_activity
def segment_sightings(payload: dict[str, Any]) -> dict[str, Any]:
    """At a batch's deadline: which pending segments a worker is on, which went silent, which no worker has taken
    (shared/jobs/inflight.py). Read-only, so a retry or a replay's re-run is harmless."""
    request = SightingsRequest.model_validate(payload)
    attempts = {int(i): a for i, a in request.attempts.items()}
    container = storage.container(get_settings().segments_container)
    seen = sightings(container, request.job_id, attempts, request.silent_after_s)
    logger.info(
        "segment sightings job_id=%s working=%d silent=%d untaken=%d",
        request.job_id,
        len(seen.working),
        len(seen.silent),
        len(seen.untaken),
    )
    return Sightings(working=seen.working, silent=seen.silent, untaken=seen.untaken).wire()


@bp.activity_trigger(input_name="payload")
@returns_failures
@traced_activity
def merge_transcript(payload: dict[str, Any]) -> dict[str, Any]:
    """Stitch the segment results into transcript.{json,txt,srt,vtt} (shared/transcripts/merge.py) and complete the
    job: the customer polling its status sees it done now, rather than one more queue wait later when the
    orchestration's own update (then a no-op) runs. A retry rewrites the same files and finds the record
    finished."""
    from shared.transcripts.merge import MergeJob, merge

    settings, request = get_settings(), MergeRequest.model_validate(payload)
    ref = request.job
    job = MergeJob(ref.job_id, ref.filename, ref.model, ref.language, ref.task)
    segments, results = storage.container(settings.segments_container), storage.container(settings.results_container)
    summary = merge(job, request.audio, request.segments, request.timings, segments, results)
    record_status(StatusUpdate(job_id=job.job_id, status=JobStatus.COMPLETED, result=summary))
    return summary


@bp.activity_trigger(input_name="payload")
@traced_activity
def deliver_webhook(payload: dict[str, Any]) -> str:
    """One signed delivery; a 5xx/429/network failure raises so the orchestrator retries with backoff."""
    from shared.jobs.views import job_view
    from shared.jobs.webhooks import CallbackPolicy, deliver, event

    settings, store, request = get_settings(), jobs(), WebhookRequest.model_validate(payload)
    job_id = request.job_id
    record = store.get(job_id)
    if not record.callback_url or not record.callback_secret:
        return "none"
    view = job_view(record, None, settings.public_origin or "", storage.blob_signer(), settings.results_container)
    message_id, body = event(request.kind, job_id, view.model_dump(mode="json", exclude={"webhook"}))
    policy = CallbackPolicy(settings.webhook_allow_http, settings.webhook_allow_private)
    try:
        status = deliver(record.callback_url, record.callback_secret, message_id, body, policy)
    except TransientError as exc:
        _record_webhook(store, job_id, None, exc.detail, "failed" if request.final else "pending")
        raise
    except PermanentError as exc:
        _record_webhook(store, job_id, None, exc.detail, "failed")
        return "refused"
    _record_webhook(store, job_id, status, None, "delivered" if status < 300 else "failed")
    logger.info("webhook job_id=%s status=%d", job_id, status)
    return "delivered" if status < 300 else "refused"


def _record_webhook(store: JobStore, job_id: str, status: int | None, error: str | None, state: str) -> None:
    def change(record: JobRecord) -> JobRecord:
        before = record.webhook or WebhookState()
        after = WebhookState(
            status=state,
            attempts=before.attempts + 1,
            last_status=status,
            last_error=error,
            delivered_at=datetime.now(UTC) if state == "delivered" else before.delivered_at,
        )
        return record.model_copy(update={"webhook": after})

    store.update(job_id, change)


@bp.activity_trigger(input_name="cleanup")
@traced_activity
def clean_up_batches(cleanup: dict[str, Any]) -> None:
    """Ask ``batch_cleanup`` (which holds a durable client) to end and purge the job's batches; sending it again
    is harmless."""
    queue(BATCH_CLEANUP_QUEUE).send_message(BatchCleanup.model_validate(cleanup).message())
