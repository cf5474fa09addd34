"""Activities of the transcription orchestration. Each one is idempotent: Durable runs activities at least once.

Heavy libraries (PyAV, soundfile, numpy) are imported inside the activities that need them, never at import time
of ``function_app.py``.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import azure.durable_functions as df
from azure.core.exceptions import ResourceModifiedError

from functions.pipeline.spans import traced_activity
from shared.azure import storage
from shared.azure.queues import queue
from shared.config import get_settings
from shared.contracts import BATCH_CLEANUP_QUEUE, AudioInfo, SegmentJob, SegmentResult, Window
from shared.errors import ErrorCode, PermanentError, TransientError
from shared.jobs.inflight import sightings
from shared.jobs.records import JobError, JobRecord, JobStatus, WebhookState
from shared.jobs.store import JobStore, job_store
from shared.telemetry import job_metrics, tracing
from shared.transcripts.untranscribed import Untranscribed

if TYPE_CHECKING:
    from shared.transcripts.warnings import Findings

bp = df.Blueprint()
logger = logging.getLogger(__name__)


def jobs() -> JobStore:
    return job_store()


@bp.activity_trigger(input_name="update")
@traced_activity
def set_job_status(update: dict[str, Any]) -> str:
    """Move the job record along; a finished job (completed, failed, canceled) never moves back. Returns the status
    the record has afterwards, so the orchestration sees a cancel that came first."""
    return record_status(update)


def record_status(update: dict[str, Any]) -> str:
    """The record's move (``job_id``, ``status``, optional ``error`` and ``result``): set_job_status's body, also
    called by merge_transcript, whose written transcript is the job's completion."""
    status = JobStatus(update["status"])
    finished_now = False  # did this update end the job? (a retried activity finds it already ended)

    def change(record: JobRecord) -> JobRecord:
        nonlocal finished_now
        finished_now = not record.finished and status in FINAL
        if record.finished:  # never moves back; a retried final update changes nothing either
            return record
        error = JobError(**update["error"]) if update.get("error") else record.error
        return record.model_copy(
            update={
                "status": status,
                "updated_at": datetime.now(UTC),
                "error": error,
                "result": update.get("result", record.result),
            }
        )

    record = jobs().update(update["job_id"], change)
    logger.info("job status job_id=%s status=%s now=%s", update["job_id"], status.value, record.status.value)
    if finished_now:
        _count_finished(record)
    return record.status.value


FINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED})


def _count_finished(record: JobRecord) -> None:
    """The job's metrics, once: turnaround from the commit, RTFx from the transcript's duration."""
    ended = record.finished_at or record.updated_at
    turnaround = (ended - record.committed_at).total_seconds() if record.committed_at else 0.0
    audio_s = float((record.result or {}).get("duration_s") or 0.0)
    code = record.error.code if record.error else None
    job_metrics.job_finished(record.filename, record.status.value, code, turnaround, audio_s)


@bp.activity_trigger(input_name="job")
@traced_activity
def probe_audio(job: dict[str, Any]) -> dict[str, Any]:
    from shared.audio.blob_reader import BlobRangeReader
    from shared.audio.probe import probe

    # The snapshot ingest took of the committed version cannot change; without one, pin reads to the ETag.
    snapshot = job.get("snapshot")
    blob = storage.container(job["container"]).get_blob_client(job["blob"], snapshot=snapshot)
    try:
        with BlobRangeReader(blob, size=job["size_bytes"], etag=None if snapshot else job.get("etag")) as reader:
            info = probe(reader, job["filename"], job.get("audio_stream"))  # the caller's pick, if any
    except ResourceModifiedError:
        raise PermanentError(ErrorCode.SOURCE_CHANGED, "the upload was replaced after it was committed") from None
    logger.info(
        "probed job_id=%s format=%s codec=%s duration_s=%.1f", job["job_id"], info.format, info.codec, info.duration_s
    )
    return info.model_dump()


@bp.activity_trigger(input_name="payload")
@traced_activity
def dispatch_segments(payload: dict[str, Any]) -> int:
    """One message per window on ``segment-jobs``; a re-sent message is harmless (first result wins)."""
    settings, job = get_settings(), payload["job"]
    audio = AudioInfo.model_validate(payload["audio"])
    jobs_queue = queue(settings.segment_jobs_queue)
    traceparent = tracing.current_traceparent()  # each worker's span is a child of this dispatch
    for raw in payload["windows"]:
        window = Window.model_validate(raw)
        message = SegmentJob(
            job_id=job["job_id"],
            index=window.index,
            attempt=payload["attempts"][str(window.index)],
            source_container=job["container"],
            source_blob=job["blob"],
            source_etag=job.get("etag"),
            source_snapshot=job.get("snapshot"),
            audio=audio,
            window=window,
            model=job["model"],
            language=job.get("language"),
            result_container=settings.segments_container,
            result_blob=f"{job['job_id']}/{window.index}.json",
            traceparent=traceparent,
            reply_to=payload.get("reply_to") or job["job_id"],
            dispatched_at=datetime.now(UTC),
        )
        jobs_queue.send_message(message.model_dump_json().encode())
    logger.info("dispatched job_id=%s segments=%d", job["job_id"], len(payload["windows"]))
    job_metrics.backlog(jobs_queue.get_queue_properties().approximate_message_count or 0)
    return len(payload["windows"])


@bp.activity_trigger(input_name="payload")
@traced_activity
def segment_sightings(payload: dict[str, Any]) -> dict[str, list[int]]:
    """At a batch's deadline: which pending segments a worker is on, which went silent, which no worker has taken
    (shared/jobs/inflight.py). Read-only, so a retry or a replay's re-run is harmless."""
    job_id = payload["job_id"]
    attempts = {int(i): int(a) for i, a in payload["attempts"].items()}
    container = storage.container(get_settings().segments_container)
    seen = sightings(container, job_id, attempts, float(payload["silent_after_s"]))
    logger.info(
        "segment sightings job_id=%s working=%d silent=%d untaken=%d",
        job_id,
        len(seen.working),
        len(seen.silent),
        len(seen.untaken),
    )
    return {"working": seen.working, "silent": seen.silent, "untaken": seen.untaken}


@bp.activity_trigger(input_name="payload")
@traced_activity
def merge_transcript(payload: dict[str, Any]) -> dict[str, Any]:
    """Stitch the segment results and write transcript.{json,txt,srt,vtt}, streaming: results are read one at a
    time in window order and each stitched segment goes straight to the four files (shared/transcripts/writer.py),
    so memory does not grow with the number of segments. Rewriting the files is idempotent."""
    from shared.transcripts.stitching import stitch_stream
    from shared.transcripts.warnings import Findings
    from shared.transcripts.writer import TranscriptWriter

    settings, job = get_settings(), payload["job"]
    audio = AudioInfo.model_validate(payload["audio"])
    heard, unheard, findings = _Heard(), Untranscribed(audio.duration_s), Findings(audio)
    writer = TranscriptWriter(storage.container(settings.results_container), job["job_id"])
    results = _results_in_order(storage.container(settings.segments_container), job["job_id"], payload["segments"])
    for segment in stitch_stream(heard.track(results, unheard, findings), audio.duration_s):
        writer.add(segment)
        for span in unheard.passed(segment):
            writer.add_untranscribed(span)
    for span in unheard.rest():
        writer.add_untranscribed(span)
    language, model = heard.language() or job.get("language"), heard.model(job["model"])
    duration, warnings = findings.duration_s(), findings.warnings(writer.words)
    head = {
        "job_id": job["job_id"],
        "filename": job["filename"],
        "language": language,
        "duration_s": duration,
        "model": model,
    }
    paths = writer.finish(head, payload.get("timings", {}), warnings)
    for warning in warnings:
        logger.warning("job warning job_id=%s code=%s: %s", job["job_id"], warning.code, warning.message)
    logger.info(
        "merged job_id=%s segments=%d words=%d untranscribed=%d (%.1f s)",
        job["job_id"],
        writer.segments,
        writer.words,
        unheard.count,
        unheard.seconds,
    )
    summary = {
        "duration_s": duration,
        "language": language,
        "model": model,
        "segments": writer.segments,
        "words": writer.words,
        "untranscribed": unheard.count,
        "untranscribed_s": round(unheard.seconds, 3),
        "transcripts": paths,
        "warnings": [w.model_dump() for w in warnings],
    }
    # The transcript is written: the job is complete now, for the customer polling its status, rather than one
    # more queue wait later when the orchestration's own update (then a no-op) runs. A retry of this activity
    # rewrites the same files and finds the record already finished.
    record_status({"job_id": job["job_id"], "status": JobStatus.COMPLETED.value, "result": summary})
    return summary


def _results_in_order(container: Any, job_id: str, count: int) -> Iterator[SegmentResult]:
    for index in range(count):
        yield SegmentResult.model_validate_json(container.download_blob(f"{job_id}/{index}.json").readall())


class _Heard:
    """What the workers reported, counted as the results stream by: languages by window, the models used."""

    def __init__(self) -> None:
        self.languages: Counter[str] = Counter()
        self.models: set[str] = set()

    def track(
        self, results: Iterable[SegmentResult], unheard: Untranscribed, findings: Findings
    ) -> Iterator[SegmentResult]:
        for result in results:
            unheard.offer(result)
            findings.offer(result)
            if result.language:
                self.languages[result.language] += 1
            if result.model:
                self.models.add(result.model)
            yield result

    def language(self) -> str | None:
        """The language most windows heard (the first heard wins a tie)."""
        return self.languages.most_common(1)[0][0] if self.languages else None

    def model(self, requested: str) -> str:
        """The model the workers used, from their own reports: the app's setting names only what it asked for,
        and a fleet mid-upgrade can run two (then both are named)."""
        return ", ".join(sorted(self.models)) if self.models else requested


@bp.activity_trigger(input_name="payload")
@traced_activity
def deliver_webhook(payload: dict[str, Any]) -> str:
    """One signed delivery; a 5xx/429/network failure raises so the orchestrator retries with backoff."""
    from shared.jobs.views import job_view
    from shared.jobs.webhooks import CallbackPolicy, deliver, event

    settings, store, job_id = get_settings(), jobs(), payload["job_id"]
    record = store.get(job_id)
    if not record.callback_url or not record.callback_secret:
        return "none"
    view = job_view(record, None, settings.public_origin or "", storage.blob_signer(), settings.results_container)
    message_id, body = event(payload["kind"], job_id, view.model_dump(mode="json", exclude={"webhook"}))
    policy = CallbackPolicy(settings.webhook_allow_http, settings.webhook_allow_private)
    try:
        status = deliver(record.callback_url, record.callback_secret, message_id, body, policy)
    except TransientError as exc:
        _record_webhook(store, job_id, None, exc.detail, "failed" if payload["final"] else "pending")
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
    message = {"job_id": cleanup["job_id"], "batches": int(cleanup["batches"])}
    queue(BATCH_CLEANUP_QUEUE).send_message(json.dumps(message).encode())
