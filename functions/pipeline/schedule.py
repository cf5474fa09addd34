"""The job's segments, run as ``transcribe_batch`` sub-orchestrations, a few at a time.

An orchestrator replays its whole history on every episode, so the job's orchestration never waits for segments
itself: it keeps :func:`batches_in_flight` batches running (enough queued segments for every worker, at least two
so a straggler never idles the fleet), starts the next when one ends and counts the finished ones in its custom
status. Its history then has one entry per batch, and its cost is linear in the segments. Deterministic: it reads
only its arguments, the batches' results and ``context.current_utc_datetime``.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import azure.durable_functions as df

from functions.pipeline.batches import batch_instance_id, transcribe_batch
from functions.pipeline.failures import JobFailed
from functions.pipeline.job_spans import SegmentsSpan
from functions.pipeline.payloads import BatchOutcome, BatchRequest, Failure, JobInput
from shared.contracts import AudioInfo
from shared.errors import ErrorCode
from shared.jobs.progress import add_heard, languages_field, progress


def batch_ranges(count: int, size: int) -> list[tuple[int, int]]:
    """The batches' windows: ``[first, stop)`` ranges of ``size`` (the last one shorter)."""
    return [(first, min(first + size, count)) for first in range(0, count, size)]


def batches_in_flight(workers: int, batch_size: int) -> int:
    """Enough queued segments to keep every worker busy while a batch waits for its last ones, and at least two
    so a straggler never idles the fleet."""
    return max(2, math.ceil(2 * workers / batch_size) + 1)


def job_progress(
    context: df.DurableOrchestrationContext,
    job: JobInput,
    stage: str,
    done: int,
    total: int,
    audio_done: float,
    audio: AudioInfo,
    **extra: Any,
) -> dict[str, Any]:
    """The job's custom status: progress since the commit, at the episode's (replay-safe) time."""
    now = context.current_utc_datetime
    return progress(stage, done, total, audio_done, audio.duration_s, job.committed_at, now, **extra)


@dataclass
class _Tally:
    """What the finished batches add up to."""

    segments: int = 0
    audio_s: float = 0.0
    transcribe_s: float = 0.0
    languages: dict[str, float] = field(default_factory=dict)  # seconds per language: at most one entry per code
    running: dict[int, Any] = field(default_factory=dict)

    def add(self, outcome: BatchOutcome) -> None:
        if not outcome.ok:  # a segment failed for good, or timed out: the job fails with the batch's code
            error = outcome.error or Failure(code=ErrorCode.TRANSCRIPTION_FAILED, message="a batch failed")
            raise JobFailed(error.code, error.message)
        self.segments += outcome.segments
        self.audio_s += outcome.audio_s
        self.transcribe_s += outcome.transcribe_s
        add_heard(self.languages, outcome.languages)


@dataclass(frozen=True)
class Finished:
    """What every batch added up to: the timings the merge records, and the languages heard."""

    timings: dict[str, float]
    languages: dict[str, float]


def run_batches(
    context: df.DurableOrchestrationContext, job: JobInput, audio: AudioInfo, count: int, span: SegmentsSpan
) -> Generator[Any, Any, Finished]:
    """Run every batch of ``count`` windows; returns their sums. A failed batch fails the job."""
    ranges = batch_ranges(count, job.batch_size)
    in_flight = batches_in_flight(job.workers, job.batch_size)
    waiting, tally = list(range(len(ranges))), _Tally()
    while waiting or tally.running:
        while waiting and len(tally.running) < in_flight:
            k = waiting.pop(0)
            request = BatchRequest(
                job=job,
                audio=audio,
                count=count,
                first=ranges[k][0],
                stop=ranges[k][1],
                ahead=len(tally.running) + 1,
                traceparent=span.own,
            )
            instance = batch_instance_id(job.job_id, k)
            tally.running[k] = context.call_sub_orchestrator(transcribe_batch, request.wire(), instance_id=instance)
        ids = [batch_instance_id(job.job_id, k) for k in sorted(tally.running)]
        extra = {"running_batches": ids, "batches": len(ranges), "languages": languages_field(tally.languages)}
        context.set_custom_status(
            job_progress(context, job, "transcribing", tally.segments, count, tally.audio_s, audio, **extra)
        )
        winner = yield context.task_any([tally.running[k] for k in sorted(tally.running)])
        del tally.running[next(k for k, task in tally.running.items() if task is winner)]
        if isinstance(winner.result, Exception):  # the batch itself broke (not a segment's failure)
            raise winner.result
        tally.add(BatchOutcome.model_validate(winner.result or {}))
    span.end = context.current_utc_datetime
    timings = {"audio_s": tally.audio_s, "transcribe_s": tally.transcribe_s}
    return Finished(timings=timings, languages=tally.languages)
