"""The ``transcription`` orchestration: probe → plan → batches of segments on the workers → merge → notify.

The orchestrator only decides; every read or write happens in an activity (``functions/pipeline/activities.py``).
It must stay deterministic: it uses only its input, activity and sub-orchestration results and
``context.current_utc_datetime``.

The segments run in batches, each a ``transcribe_batch`` sub-orchestration (``functions/pipeline/batches.py``) that
dispatches its segments, waits for their reports and redispatches the late ones. This orchestration keeps a few
batches in flight (enough to keep every worker busy), starts the next when one ends, and records the progress of
the finished ones; so its history has one entry per batch and its cost is linear in the segments. When the job
ends, however it ends, the ``batch-cleanup`` queue has its batches ended and their histories purged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from functions.pipeline.batches import batch_instance_id, batch_ranges
from shared.jobs.progress import progress
from shared.jobs.spans import SegmentsSpan, job_ended, parent_for_activities, segments_span
from shared.transcripts.windows import window_count

bp = df.Blueprint()

RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=4)
_ERROR = re.compile(r"(?:PermanentError|TransientError|ServiceError): ([a-z_]+): (.*)")


class JobFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def failure_of(exc: Exception) -> tuple[str, str]:
    """The stable code and message of a failure, from our own exception or an activity's TaskFailed text."""
    if isinstance(exc, JobFailed):
        return exc.code, exc.message
    first_line = str(exc).split("\n", 1)[0].strip()
    found = _ERROR.search(first_line)
    return (found[1], found[2]) if found else ("transcription_failed", first_line)


@bp.orchestration_trigger(context_name="context")
def transcription(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    job: dict[str, Any] = context.get_input()
    started, segments = context.current_utc_datetime, None  # the first episode's time, on every replay
    batches = 0
    try:
        now, audio = yield from _start(context, job)
        if now != "transcribing":  # canceled between the commit and this start: the record keeps the last word
            return {"stopped": now}  # the cancel wrote the job's span (shared/jobs/spans.py: job_canceled)
        count = window_count(
            audio["duration_s"],
            window_s=job["window_s"],
            overlap_s=job["overlap_s"],
            workers=job["workers"],
            min_window_s=job["min_window_s"],
        )
        batches = len(batch_ranges(count, job["batch_size"]))
        segments = segments_span(context, job)
        segments.count = count
        timings = yield from _transcribe(context, job, audio, count, segments)
        context.set_custom_status(_progress(context, job, "merging", count, count, audio["duration_s"], audio))
        merge = {"job": job, "audio": audio, "segments": count, "timings": timings}
        merging = context.call_activity_with_retry("set_job_status", RETRY, _update(job, "merging"))
        _, summary = yield context.task_all(
            [merging, context.call_activity_with_retry("merge_transcript", RETRY, merge)]
        )
    except Exception as exc:
        code, message = failure_of(exc)
        context.set_custom_status({"stage": "failed", "error": {"code": code, "message": message}})
        now = yield from _set_status(context, job, "failed", error={"code": code, "message": message})
        yield from _clean_up(context, job, batches)
        if now == "canceled":  # the start's probe failed for a job canceled before it: nothing to report
            return {"stopped": now}
        yield from _notify(context, job, "failed")
        job_ended(context, job, started, "failed", code, segments=segments)
        raise JobFailed(code, message) from None
    completed = context.call_activity_with_retry("set_job_status", RETRY, _update(job, "completed", result=summary))
    yield context.task_all([completed, *([_clean_up_task(context, job, batches)] if batches else [])])
    yield from _notify(context, job, "completed")
    job_ended(context, job, started, "completed", audio_s=audio["duration_s"], segments=segments)
    final = _progress(context, job, "completed", count, count, audio["duration_s"], audio)
    context.set_custom_status({**final, "result": summary})
    return dict(summary)


def _transcribe(
    context: df.DurableOrchestrationContext,
    job: dict[str, Any],
    audio: dict[str, Any],
    count: int,
    span: SegmentsSpan,
) -> Generator[Any, Any, dict[str, float]]:
    """Run the batches, a few at a time; returns the summed timings. A failed batch fails the job."""
    ranges = batch_ranges(count, job["batch_size"])
    in_flight = batches_in_flight(job["workers"], job["batch_size"])
    waiting = list(range(len(ranges)))
    running: dict[int, Any] = {}
    done, audio_done, stats = 0, 0.0, {"audio_s": 0.0, "transcribe_s": 0.0}
    while waiting or running:
        while waiting and len(running) < in_flight:
            k = waiting.pop(0)
            first, stop = ranges[k]
            payload = {
                "job": job,
                "audio": audio,
                "count": count,
                "first": first,
                "stop": stop,
                "ahead": len(running) + 1,
                "traceparent": span.own,
            }
            instance = batch_instance_id(job["job_id"], k)
            running[k] = context.call_sub_orchestrator("transcribe_batch", payload, instance_id=instance)
        ids = [batch_instance_id(job["job_id"], k) for k in sorted(running)]
        context.set_custom_status(
            _progress(
                context, job, "transcribing", done, count, audio_done, audio, running_batches=ids, batches=len(ranges)
            )
        )
        winner = yield context.task_any([running[k] for k in sorted(running)])
        k = next(k for k, task in running.items() if task is winner)
        del running[k]
        if isinstance(winner.result, Exception):  # the batch itself broke (not a segment's failure)
            raise winner.result
        outcome = dict(winner.result or {})
        if not outcome.get("ok"):
            error = outcome.get("error") or {}
            raise JobFailed(error.get("code") or "transcription_failed", error.get("message") or "a batch failed")
        done += int(outcome["segments"])
        audio_done += float(outcome["audio_s"])
        stats["audio_s"] += float(outcome["audio_s"])
        stats["transcribe_s"] += float(outcome["transcribe_s"])
    span.end = context.current_utc_datetime
    return stats


def batches_in_flight(workers: int, batch_size: int) -> int:
    """Enough queued segments to keep every worker busy while a batch waits for its last ones, and at least two
    so a straggler never idles the fleet."""
    return max(2, math.ceil(2 * workers / batch_size) + 1)


def _progress(
    context: df.DurableOrchestrationContext,
    job: dict[str, Any],
    stage: str,
    done: int,
    total: int,
    audio_done: float,
    audio: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    now = context.current_utc_datetime
    return progress(stage, done, total, audio_done, audio["duration_s"], _started(job), now, **extra)


def _start(context: df.DurableOrchestrationContext, job: dict[str, Any]) -> Generator[Any, Any, tuple[str, Any]]:
    """Mark the job transcribing and probe its audio together: one wait on the queues rather than two (each is up to
    ``maxQueuePollingInterval`` when the queue has been idle). The probe only reads, so for a job canceled before
    this start it costs a few range reads and its answer is dropped. Returns the record's status and the probe."""
    update = context.call_activity_with_retry("set_job_status", RETRY, _update(job, "transcribing"))
    probe = context.call_activity_with_retry("probe_audio", RETRY, job)
    now, audio = yield context.task_all([update, probe])
    return str(now or "transcribing"), audio


def _clean_up(context: df.DurableOrchestrationContext, job: dict[str, Any], batches: int) -> Generator[Any, Any, None]:
    """Have the job's batches ended (a failure leaves some waiting) and their histories purged."""
    if batches:
        yield _clean_up_task(context, job, batches)


def _clean_up_task(context: df.DurableOrchestrationContext, job: dict[str, Any], batches: int) -> Any:
    cleanup = {"job_id": job["job_id"], "batches": batches, "traceparent": parent_for_activities(job)}
    return context.call_activity_with_retry("clean_up_batches", RETRY, cleanup)


def _update(job: dict[str, Any], status: str, **extra: Any) -> dict[str, Any]:
    return {"job_id": job["job_id"], "status": status, "traceparent": parent_for_activities(job), **extra}


def _set_status(
    context: df.DurableOrchestrationContext, job: dict[str, Any], status: str, **extra: Any
) -> Generator[Any, Any, str]:
    """Move the job record along, retried like every activity that touches storage; returns the record's status
    afterwards (a finished record does not move: see ``set_job_status``)."""
    now = yield context.call_activity_with_retry("set_job_status", RETRY, _update(job, status, **extra))
    return str(now or status)


def _started(job: dict[str, Any]) -> datetime:
    """When the upload was committed: the clock for progress and ETA (from the input, so replay-safe)."""
    return datetime.fromisoformat(job["committed_at"])


def _notify(context: df.DurableOrchestrationContext, job: dict[str, Any], kind: str) -> Generator[Any, Any, None]:
    """Deliver the webhook with exponential backoff on durable timers; a receiver that never answers well is
    recorded on the job but never fails it."""
    if not job.get("callback"):
        return
    attempts, delay = int(job["webhook_attempts"]), float(job["webhook_backoff_s"])
    for attempt in range(1, attempts + 1):
        try:
            payload = {
                "job_id": job["job_id"],
                "kind": kind,
                "final": attempt == attempts,
                "traceparent": parent_for_activities(job),
            }
            yield context.call_activity("deliver_webhook", payload)
            return
        except Exception:
            if attempt == attempts:
                return
            yield context.create_timer(context.current_utc_datetime + timedelta(seconds=delay * 2 ** (attempt - 1)))
