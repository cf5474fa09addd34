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
The batch returns its outcome (``functions/pipeline/payloads.py``: ``BatchOutcome``) rather than raising, so the job's
orchestration reads a code, not an exception text.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from functions.pipeline.activities import dispatch_segments, segment_sightings
from functions.pipeline.failures import RETRY
from functions.pipeline.payloads import (
    BatchOutcome,
    BatchRequest,
    DispatchRequest,
    Failure,
    Sightings,
    SightingsRequest,
)
from shared.contracts import SegmentDone, Window
from shared.errors import ErrorCode
from shared.jobs.progress import add_heard, languages_field
from shared.transcripts.windows import window_at

bp = df.Blueprint()


def batch_instance_id(job_id: str, batch: int) -> str:
    """Deterministic, so a cancel or the clean-up can find every batch of a job without a list."""
    return f"{job_id}:batch-{batch}"


@bp.orchestration_trigger(context_name="context")
def transcribe_batch(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    batch = BatchRequest.model_validate(context.get_input())
    outcome = yield from _run(context, batch)
    return outcome.wire()


def _run(context: df.DurableOrchestrationContext, batch: BatchRequest) -> Generator[Any, Any, BatchOutcome]:
    windows = _windows(batch)
    by_index = {w.index: w for w in windows}
    attempts = dict.fromkeys(by_index, 1)
    pending = set(attempts)
    waits = {i: context.wait_for_external_event(f"segment-{i}") for i in sorted(pending)}
    yield from _dispatch(context, batch, windows, attempts)
    done = _Done(segments=len(windows))
    context.set_custom_status(_status(done, windows, pending))
    timeout = timedelta(seconds=batch.job.segment_timeout_s)
    dispatched = dict.fromkeys(attempts, context.current_utc_datetime)
    deadline = context.current_utc_datetime + timeout * max(1, batch.ahead)
    while pending:
        timer = context.create_timer(deadline)
        winner = yield context.task_any([*(waits[i] for i in sorted(pending)), timer])
        if winner is timer:
            failure = yield from _after_deadline(context, batch, pending, attempts, dispatched)
            if failure is not None:
                return _failed(failure)
            deadline = context.current_utc_datetime + timeout
            continue
        timer.cancel()
        index = next(i for i in pending if waits[i] is winner)
        report = _report(winner.result)
        if not report.ok:
            code = ErrorCode.from_slug(report.error_code)
            return _failed(
                Failure(code=code, message=f"segment {index}: {report.error_message or 'the worker gave up'}")
            )
        pending.discard(index)
        done.add(by_index[index], report)
        deadline = context.current_utc_datetime + timeout
        context.set_custom_status(_status(done, windows, pending))
    return done.outcome()


class _Done:
    """The batch's totals so far."""

    def __init__(self, segments: int) -> None:
        self.segments, self.done, self.audio_s, self.transcribe_s = segments, 0, 0.0, 0.0
        self.languages: dict[str, float] = {}  # seconds of speech per language heard (one entry per code at most)

    def add(self, window: Window, report: SegmentDone) -> None:
        self.done += 1
        self.audio_s += window.keep_end_s - window.keep_start_s
        self.transcribe_s += report.transcribe_s
        add_heard(self.languages, report.languages)

    def outcome(self) -> BatchOutcome:
        return BatchOutcome(
            segments=self.segments,
            audio_s=self.audio_s,
            transcribe_s=self.transcribe_s,
            done=self.done,
            languages=self.languages,
        )


def _after_deadline(
    context: df.DurableOrchestrationContext,
    batch: BatchRequest,
    pending: set[int],
    attempts: dict[int, int],
    dispatched: dict[int, datetime],
) -> Generator[Any, Any, Failure | None]:
    """Nothing reported in time: re-send what a worker went silent on, leave what is still queued; a failure once
    a segment has used its attempts or waited in the queue past the limit."""
    job = batch.job
    request = SightingsRequest(
        job_id=job.job_id,
        attempts={str(i): attempts[i] for i in sorted(pending)},
        silent_after_s=job.segment_timeout_s,
    )
    seen = Sightings.model_validate((yield context.call_activity_with_retry(segment_sightings, RETRY, request.wire())))
    now = context.current_utc_datetime
    queue_limit_s = job.segment_queue_timeout_s
    waited = [i for i in seen.untaken if (now - dispatched[i]).total_seconds() >= queue_limit_s]
    if waited:
        message = f"segments {waited[:20]} were taken by no worker within {queue_limit_s:.0f} s: are workers running?"
        return Failure(code=ErrorCode.SEGMENT_TIMEOUT, message=message)
    silent = [i for i in seen.silent if i in pending]
    exhausted = [i for i in silent if attempts[i] >= job.max_attempts]
    if exhausted:
        message = (
            f"segments {exhausted[:20]} made no progress after "
            f"{job.max_attempts} attempts of {job.segment_timeout_s:.0f} s"
        )
        return Failure(code=ErrorCode.SEGMENT_TIMEOUT, message=message)
    for i in silent:
        attempts[i], dispatched[i] = attempts[i] + 1, now
    if silent:
        by_index = {w.index: w for w in _windows(batch) if w.index in silent}
        yield from _dispatch(context, batch, [by_index[i] for i in silent], attempts)
    return None


def _windows(batch: BatchRequest) -> list[Window]:
    count, overlap, duration = batch.count, batch.job.overlap_s, batch.audio.duration_s
    return [window_at(i, duration, count, overlap) for i in range(batch.first, batch.stop)]


def _status(done: _Done, windows: list[Window], pending: set[int]) -> dict[str, Any]:
    """What the status API adds to the job's progress while this batch runs; ``pending`` (at most a batch of
    indices, ~1 KB) tells it which in-flight reports are not counted yet (shared/jobs/inflight.py)."""
    return {
        "segments_done": len(windows) - len(pending),
        "audio_seconds_done": round(done.audio_s, 2),
        "languages": languages_field(done.languages),
        "pending": sorted(pending),
    }


def _failed(failure: Failure) -> BatchOutcome:
    return BatchOutcome(ok=False, error=failure)


def _dispatch(
    context: df.DurableOrchestrationContext, batch: BatchRequest, windows: list[Window], attempts: dict[int, int]
) -> Generator[Any, Any, None]:
    request = DispatchRequest(
        traceparent=batch.traceparent,
        reply_to=context.instance_id,
        job=batch.job,
        audio=batch.audio,
        windows=windows,
        attempts={str(w.index): attempts[w.index] for w in windows},
    )
    yield context.call_activity_with_retry(dispatch_segments, RETRY, request.wire())


def _report(result: Any) -> SegmentDone:
    """Event payloads raised by the Python client arrive as JSON text (as on Azure); accept a dict as well."""
    if isinstance(result, str):
        return SegmentDone.model_validate_json(result)
    return SegmentDone.model_validate(result or {})
