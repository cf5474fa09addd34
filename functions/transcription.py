"""The ``transcription`` orchestration: probe → plan → fan out to workers → wait with progress → merge.

The orchestrator only decides; every read or write happens in an activity (``functions/pipeline_activities.py``).
It must stay deterministic: it uses only its input, activity results, event payloads and
``context.current_utc_datetime``.

Timeouts are "no progress" deadlines: the timer restarts whenever a segment completes, so segments that are
merely queued behind others (more segments than workers) never count as late. If nothing completes for
``segment_timeout_s``, every pending segment is dispatched again, up to ``segment_max_attempts``, then the job
fails with ``segment_timeout``. (A worker that dies mid-segment is normally covered sooner by the queue itself:
its message reappears after the visibility timeout.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from functions.job_spans import SegmentsSpan, job_ended, parent_for_activities, segments_span
from shared.contracts import Window
from shared.progress import progress
from shared.segmenting import plan_windows

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
    try:
        now = yield from _set_status(context, job, "transcribing")
        if now != "transcribing":  # canceled between the commit and this start: the record keeps the last word
            return {"stopped": now}  # the cancel wrote the job's span (functions/job_spans.py: job_canceled)
        audio = yield context.call_activity_with_retry("probe_audio", RETRY, job)
        windows = plan_windows(
            audio["duration_s"],
            window_s=job["window_s"],
            overlap_s=job["overlap_s"],
            workers=job["workers"],
            min_window_s=job["min_window_s"],
        )
        segments = segments_span(context, job)
        timings = yield from _transcribe(context, job, audio, windows, segments)
        context.set_custom_status(
            progress(
                "merging",
                windows,
                {w.index for w in windows},
                _started(job),
                context.current_utc_datetime,
                audio["duration_s"],
            )
        )
        yield from _set_status(context, job, "merging")
        merge = {"job": job, "audio": audio, "segments": len(windows), "timings": timings}
        summary = yield context.call_activity_with_retry("merge_transcript", RETRY, merge)
    except Exception as exc:
        code, message = failure_of(exc)
        context.set_custom_status({"stage": "failed", "error": {"code": code, "message": message}})
        yield from _set_status(context, job, "failed", error={"code": code, "message": message})
        yield from _notify(context, job, "failed")
        job_ended(context, job, started, "failed", code, segments=segments)
        raise JobFailed(code, message) from None
    yield from _set_status(context, job, "completed", result=summary)
    yield from _notify(context, job, "completed")
    job_ended(context, job, started, "completed", audio_s=audio["duration_s"], segments=segments)
    context.set_custom_status(
        {
            **progress(
                "completed",
                windows,
                {w.index for w in windows},
                _started(job),
                context.current_utc_datetime,
                audio["duration_s"],
            ),
            "result": summary,
        }
    )
    return dict(summary)


def _set_status(
    context: df.DurableOrchestrationContext, job: dict[str, Any], status: str, **extra: Any
) -> Generator[Any, Any, str]:
    """Move the job record along, retried like every activity that touches storage; returns the record's status
    afterwards (a finished record does not move: see ``set_job_status``)."""
    update = {"job_id": job["job_id"], "status": status, "traceparent": parent_for_activities(job), **extra}
    now = yield context.call_activity_with_retry("set_job_status", RETRY, update)
    return str(now or status)


def _started(job: dict[str, Any]) -> datetime:
    """When the upload was committed: the clock for progress and ETA (from the input, so replay-safe)."""
    return datetime.fromisoformat(job["committed_at"])


def _transcribe(
    context: df.DurableOrchestrationContext,
    job: dict[str, Any],
    audio: dict[str, Any],
    windows: list[Window],
    span: SegmentsSpan,
) -> Generator[Any, Any, dict[str, float]]:
    attempts = {w.index: 1 for w in windows}
    pending = set(attempts)
    waits = {i: context.wait_for_external_event(f"segment-{i}") for i in sorted(pending)}
    by_index = {w.index: w for w in windows}
    span.count = len(windows)
    yield from _dispatch(context, job, audio, windows, attempts, span.own)
    stats = {"audio_s": 0.0, "transcribe_s": 0.0}
    context.set_custom_status(
        progress("transcribing", windows, set(), _started(job), context.current_utc_datetime, audio["duration_s"])
    )
    deadline = context.current_utc_datetime + timedelta(seconds=job["segment_timeout_s"])
    while pending:
        timer = context.create_timer(deadline)
        winner = yield context.task_any([*(waits[i] for i in sorted(pending)), timer])
        if winner is timer:
            yield from _redispatch(context, job, audio, [by_index[i] for i in sorted(pending)], attempts, span.own)
            deadline = context.current_utc_datetime + timedelta(seconds=job["segment_timeout_s"])
            continue
        timer.cancel()
        index = next(i for i in pending if waits[i] is winner)
        report = _report(winner.result)
        if not report.get("ok"):
            raise JobFailed(
                report.get("error_code") or "transcription_failed",
                f"segment {index}: {report.get('error_message') or 'the worker gave up'}",
            )
        pending.discard(index)
        stats["audio_s"] += float(report.get("audio_s", 0.0))
        stats["transcribe_s"] += float(report.get("transcribe_s", 0.0))
        deadline = context.current_utc_datetime + timedelta(seconds=job["segment_timeout_s"])
        context.set_custom_status(
            progress(
                "transcribing",
                windows,
                set(attempts) - pending,
                _started(job),
                context.current_utc_datetime,
                audio["duration_s"],
            )
        )
    span.end = context.current_utc_datetime
    return stats


def _dispatch(
    context: df.DurableOrchestrationContext,
    job: dict[str, Any],
    audio: dict[str, Any],
    windows: list[Window],
    attempts: dict[int, int],
    traceparent: str | None,
) -> Generator[Any, Any, None]:
    payload = {
        "traceparent": traceparent,
        "job": job,
        "audio": audio,
        "windows": [w.model_dump() for w in windows],
        "attempts": {str(w.index): attempts[w.index] for w in windows},
    }
    yield context.call_activity_with_retry("dispatch_segments", RETRY, payload)


def _redispatch(
    context: df.DurableOrchestrationContext,
    job: dict[str, Any],
    audio: dict[str, Any],
    late: list[Window],
    attempts: dict[int, int],
    traceparent: str | None,
) -> Generator[Any, Any, None]:
    exhausted = [w.index for w in late if attempts[w.index] >= job["max_attempts"]]
    if exhausted:
        raise JobFailed(
            "segment_timeout",
            f"segments {exhausted} made no progress after "
            f"{job['max_attempts']} attempts of {job['segment_timeout_s']:.0f} s",
        )
    for w in late:
        attempts[w.index] += 1
    yield from _dispatch(context, job, audio, late, attempts, traceparent)


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


def _report(result: Any) -> dict[str, Any]:
    """Event payloads raised by the Python client arrive as JSON text (as on Azure); accept a dict as well."""
    value = json.loads(result) if isinstance(result, str) else result
    return dict(value or {})
