"""The ``transcription`` orchestration: start (mark + probe) → batches of segments on the workers → merge → notify.

The orchestrator only decides; every read or write happens in an activity (``functions/pipeline/activities.py``),
the segments run in ``transcribe_batch`` sub-orchestrations scheduled by ``functions/pipeline/schedule.py``, a
failure's code travels as data (``functions/pipeline/failures.py``) and the webhook is retried on durable timers
(``functions/pipeline/notify.py``). It must stay deterministic: it uses only its input
(``functions/pipeline/payloads.py``: ``JobInput``), activity and sub-orchestration results and
``context.current_utc_datetime``. When the job ends, however it ends, the ``batch-cleanup`` queue has its batches
ended and their histories purged.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import Any

import azure.durable_functions as df

from functions.pipeline.activities import clean_up_batches, merge_transcript, probe_audio, set_job_status
from functions.pipeline.failures import RETRY, JobFailed, checked, failure_of
from functions.pipeline.job_spans import SegmentsSpan, job_ended, segments_span
from functions.pipeline.notify import notify
from functions.pipeline.payloads import Failure, JobInput, MergeRequest, StatusUpdate
from functions.pipeline.schedule import Finished, batch_ranges, job_progress, run_batches
from shared.contracts import AudioInfo, BatchCleanup
from shared.jobs.progress import languages_field
from shared.jobs.records import JobStatus
from shared.transcripts.windows import window_count

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def transcription(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    job = JobInput.model_validate(context.get_input())
    started, segments = context.current_utc_datetime, None  # the first episode's time, on every replay
    batches = 0
    try:
        now, probed = yield from _start(context, job)
        if now != JobStatus.TRANSCRIBING:  # canceled between the commit and this start: the record keeps the last word
            return {"stopped": now}  # the cancel wrote the job's span (shared/jobs/spans.py)
        audio = AudioInfo.model_validate(checked(probed))
        count = _window_count(job, audio)
        batches = len(batch_ranges(count, job.batch_size))
        segments = segments_span(context, job)
        segments.count = count
        finished = yield from run_batches(context, job, audio, count, segments)
        summary = yield from _merge(context, job, audio, count, finished)
    except Exception as exc:
        return (yield from _failed(context, job, failure_of(exc), started, batches, segments))
    # The merge already completed the record, so this update changes nothing; it stays because in-flight
    # histories hold it, and a replay must schedule what its history recorded.
    completed = _set_status_task(context, job, JobStatus.COMPLETED, result=summary)
    yield context.task_all([completed, *([_clean_up_task(context, job, batches)] if batches else [])])
    yield from notify(context, job, "completed")
    job_ended(context, job, started, "completed", audio_s=audio.duration_s, segments=segments)
    heard = summary.get("languages") or []  # the merge's count: the stitched transcript's, overlaps counted once
    final = job_progress(context, job, "completed", count, count, audio.duration_s, audio, languages=heard)
    context.set_custom_status({**final, "result": summary})
    return dict(summary)


def _start(context: df.DurableOrchestrationContext, job: JobInput) -> Generator[Any, Any, tuple[str, Any]]:
    """Mark the job transcribing and probe its audio together: one wait on the queues rather than two (each is up to
    ``maxQueuePollingInterval`` when the queue has been idle). The probe only reads, so for a job canceled before
    this start it costs a few range reads and its answer (or its ``Failed`` outcome) is dropped. Returns the
    record's status and the probe's result."""
    update = _set_status_task(context, job, JobStatus.TRANSCRIBING)
    probe = context.call_activity_with_retry(probe_audio, RETRY, job.wire())
    now, probed = yield context.task_all([update, probe])
    return str(now or JobStatus.TRANSCRIBING.value), probed


def _window_count(job: JobInput, audio: AudioInfo) -> int:
    """How many windows the file is cut into (``shared/transcripts/windows.py``); each is computable from its index."""
    return window_count(
        audio.duration_s,
        window_s=job.window_s,
        overlap_s=job.overlap_s,
        workers=job.workers,
        min_window_s=job.min_window_s,
    )


def _merge(
    context: df.DurableOrchestrationContext, job: JobInput, audio: AudioInfo, count: int, finished: Finished
) -> Generator[Any, Any, dict[str, Any]]:
    """Record "merging" and merge at once (the merge completes the record as soon as the transcript is written)."""
    heard = languages_field(finished.languages)
    context.set_custom_status(
        job_progress(context, job, "merging", count, count, audio.duration_s, audio, languages=heard)
    )
    merge = MergeRequest(job=job, audio=audio, segments=count, timings=finished.timings)
    merging = _set_status_task(context, job, JobStatus.MERGING)
    _, summary = yield context.task_all(
        [merging, context.call_activity_with_retry(merge_transcript, RETRY, merge.wire())]
    )
    return dict(checked(summary))


def _failed(
    context: df.DurableOrchestrationContext,
    job: JobInput,
    failure: Failure,
    started: datetime,
    batches: int,
    segments: SegmentsSpan | None,
) -> Generator[Any, Any, dict[str, Any]]:
    """Record the failure, clean up, tell the customer, and fail the orchestration with the job's code."""
    error = failure.model_dump(mode="json")
    context.set_custom_status({"stage": "failed", "error": error})
    now = yield _set_status_task(context, job, JobStatus.FAILED, error=failure)
    if batches:
        yield _clean_up_task(context, job, batches)  # a failure leaves some batches waiting
    if now == JobStatus.CANCELED:  # the start's probe failed for a job canceled before it: nothing to report
        return {"stopped": JobStatus.CANCELED.value}
    yield from notify(context, job, "failed")
    job_ended(context, job, started, "failed", failure.code.slug, segments=segments)
    raise JobFailed(failure.code, failure.message) from None


def _set_status_task(
    context: df.DurableOrchestrationContext,
    job: JobInput,
    status: JobStatus,
    error: Failure | None = None,
    result: dict[str, Any] | None = None,
) -> Any:
    """Move the job record along (``shared/jobs/lifecycle.py``), retried like every activity that touches storage;
    its result is the record's status afterwards (a finished record does not move)."""
    update = StatusUpdate(job_id=job.job_id, status=status, traceparent=job.activity_parent, error=error, result=result)
    return context.call_activity_with_retry(set_job_status, RETRY, update.wire())


def _clean_up_task(context: df.DurableOrchestrationContext, job: JobInput, batches: int) -> Any:
    """Have the job's batches ended (a failure leaves some waiting) and their histories purged."""
    cleanup = BatchCleanup(job_id=job.job_id, batches=batches, traceparent=job.activity_parent)
    return context.call_activity_with_retry(clean_up_batches, RETRY, cleanup.wire())
