"""The ``transcribe_batch`` sub-orchestration: dispatch one batch of segments, wait for each, redispatch the late.

Why batches: an orchestrator replays its whole history on every episode, and it has an episode per segment
report, so one orchestration waiting for 10,000 segments costs 10,000² event replays and a history far past
Microsoft's guidance of about 1,000 activities per orchestration. A batch of a few hundred bounds both; the job's
orchestration (``functions/pipeline/orchestrator.py``) runs a few batches at a time, so its own history has one entry
per batch. Each batch computes its windows from their indices (``shared.transcripts.windows.window_at``), never the
whole plan.

Timeouts are "no progress" deadlines: the timer restarts whenever a segment of the batch completes. Until the
first one does, the batch may be queued behind the other batches in flight, so its first deadline is that many
times longer. When a deadline passes, the batch asks what the workers last wrote (``segment_sightings``,
shared/jobs/inflight.py): a segment a worker took and then went silent on is dispatched again, up to ``max_attempts``,
then the batch reports ``segment_timeout``; a segment no worker has taken yet is still in the shared queue,
perhaps behind other jobs' work, and is left there (sent again it would be worked twice and lengthen the queue
for everyone: bench/load found both) until ``segment_queue_timeout_s`` after its dispatch, when the batch reports
``segment_timeout`` saying no worker took it. A worker's failure report ends the batch at once.
The batch returns its outcome rather than raising, so the job's orchestration reads a code, not an exception text.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from shared.contracts import Window
from shared.transcripts.windows import window_at

bp = df.Blueprint()
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=4)
DEFAULT_QUEUE_TIMEOUT_S = 14400.0  # shared/config.py segment_queue_timeout_s


def batch_instance_id(job_id: str, batch: int) -> str:
    """Deterministic, so a cancel or the clean-up can find every batch of a job without a list."""
    return f"{job_id}:batch-{batch}"


def batch_ranges(count: int, size: int) -> list[tuple[int, int]]:
    return [(first, min(first + size, count)) for first in range(0, count, size)]


@bp.orchestration_trigger(context_name="context")
def transcribe_batch(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    batch: dict[str, Any] = context.get_input()
    job, windows = batch["job"], _windows(batch)
    attempts = {w.index: 1 for w in windows}
    pending = set(attempts)
    waits = {i: context.wait_for_external_event(f"segment-{i}") for i in sorted(pending)}
    by_index = {w.index: w for w in windows}
    yield from _dispatch(context, batch, windows, attempts)
    outcome: dict[str, Any] = {"ok": True, "segments": len(windows), "audio_s": 0.0, "transcribe_s": 0.0, "done": 0}
    context.set_custom_status(_status(outcome, windows, pending))
    timeout = timedelta(seconds=job["segment_timeout_s"])
    dispatched = dict.fromkeys(attempts, context.current_utc_datetime)
    deadline = context.current_utc_datetime + timeout * max(1, int(batch.get("ahead", 1)))
    while pending:
        timer = context.create_timer(deadline)
        winner = yield context.task_any([*(waits[i] for i in sorted(pending)), timer])
        if winner is timer:
            failure = yield from _after_deadline(context, batch, pending, attempts, dispatched)
            if failure is not None:
                return failure
            deadline = context.current_utc_datetime + timeout
            continue
        timer.cancel()
        index = next(i for i in pending if waits[i] is winner)
        report = _report(winner.result)
        if not report.get("ok"):
            code = report.get("error_code") or "transcription_failed"
            return _failed(code, f"segment {index}: {report.get('error_message') or 'the worker gave up'}")
        pending.discard(index)
        outcome["done"] += 1
        outcome["audio_s"] += by_index[index].keep_end_s - by_index[index].keep_start_s
        outcome["transcribe_s"] += float(report.get("transcribe_s", 0.0))
        deadline = context.current_utc_datetime + timeout
        context.set_custom_status(_status(outcome, windows, pending))
    return outcome


def _after_deadline(
    context: df.DurableOrchestrationContext,
    batch: dict[str, Any],
    pending: set[int],
    attempts: dict[int, int],
    dispatched: dict[Any, Any],
) -> Generator[Any, Any, dict[str, Any] | None]:
    """Nothing reported in time: re-send what a worker went silent on, leave what is still queued; a failure
    outcome once a segment has used its attempts or waited in the queue past the limit."""
    job = batch["job"]
    seen = yield context.call_activity_with_retry(
        "segment_sightings",
        RETRY,
        {
            "job_id": job["job_id"],
            "attempts": {str(i): attempts[i] for i in sorted(pending)},
            "silent_after_s": job["segment_timeout_s"],
        },
    )
    now = context.current_utc_datetime
    queue_limit_s = float(job.get("segment_queue_timeout_s", DEFAULT_QUEUE_TIMEOUT_S))  # older inputs lack it
    waited = [i for i in seen["untaken"] if (now - dispatched[i]).total_seconds() >= queue_limit_s]
    if waited:
        message = f"segments {waited[:20]} were taken by no worker within {queue_limit_s:.0f} s: are workers running?"
        return _failed("segment_timeout", message)
    silent = [i for i in seen["silent"] if i in pending]
    exhausted = [i for i in silent if attempts[i] >= job["max_attempts"]]
    if exhausted:
        return _failed(
            "segment_timeout",
            f"segments {exhausted[:20]} made no progress after "
            f"{job['max_attempts']} attempts of {job['segment_timeout_s']:.0f} s",
        )
    for i in silent:
        attempts[i], dispatched[i] = attempts[i] + 1, now
    if silent:
        by_index = {w.index: w for w in _windows(batch) if w.index in silent}
        yield from _dispatch(context, batch, [by_index[i] for i in silent], attempts)
    return None


def _windows(batch: dict[str, Any]) -> list[Window]:
    count, overlap, duration = batch["count"], batch["job"]["overlap_s"], batch["audio"]["duration_s"]
    return [window_at(i, duration, count, overlap) for i in range(batch["first"], batch["stop"])]


def _status(outcome: dict[str, Any], windows: list[Window], pending: set[int]) -> dict[str, Any]:
    """What the status API adds to the job's progress while this batch runs; ``pending`` (at most a batch of
    indices, ~1 KB) tells it which in-flight reports are not counted yet (shared/jobs/inflight.py)."""
    return {
        "segments_done": len(windows) - len(pending),
        "audio_seconds_done": round(outcome["audio_s"], 2),
        "pending": sorted(pending),
    }


def _failed(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


def _dispatch(
    context: df.DurableOrchestrationContext, batch: dict[str, Any], windows: list[Window], attempts: dict[int, int]
) -> Generator[Any, Any, None]:
    payload = {
        "traceparent": batch.get("traceparent"),
        "reply_to": context.instance_id,
        "job": batch["job"],
        "audio": batch["audio"],
        "windows": [w.model_dump() for w in windows],
        "attempts": {str(w.index): attempts[w.index] for w in windows},
    }
    yield context.call_activity_with_retry("dispatch_segments", RETRY, payload)


def _report(result: Any) -> dict[str, Any]:
    """Event payloads raised by the Python client arrive as JSON text (as on Azure); accept a dict as well."""
    value = json.loads(result) if isinstance(result, str) else result
    return dict(value or {})
