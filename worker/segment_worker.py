"""Drain ``segment-jobs``: one message at a time, its visibility renewed while the model works.

For each message: skip it if the job was canceled; read only the window's bytes from the source blob (range
reads); transcribe; write ``segments/{job_id}/{index}.json``; report on ``segment-results``; then delete the
message. A crash leaves the message to reappear after its visibility timeout, so another worker picks it up. A
message that keeps failing (dequeue count over the limit: a segment that crashes every worker that takes it) is
moved to ``<queue>-poison``, as the Functions queue trigger does with its own messages, and reported as
``segment_failed``; audio that cannot be decoded ends as a failed segment report. Never a hang, never a message
retried forever or dropped without a trace.

A worker with a deadline (``WorkerOptions.deadline_at``: on Azure the job's replica timeout less a margin) takes no
segment it does not expect to finish by then (:class:`Deadline`): it stops before taking one, or puts a taken one
back at once (:meth:`SegmentWorker._release`), and ``run`` returns so that the process exits cleanly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContentSettings
from azure.storage.queue import QueueClient, QueueMessage
from opentelemetry import trace
from pydantic import ValidationError

from shared.audio.level import peak_dbfs
from shared.azure.paths import blob_path
from shared.contracts import SegmentDone, SegmentJob, SegmentResult
from shared.errors import ErrorCode, PermanentError
from shared.jobs.inflight import InflightProgress, mark_taken
from shared.jobs.records import JobStatus
from shared.jobs.store import JobStore
from shared.telemetry import job_metrics, tracing
from shared.telemetry.names import Attr, Span
from shared.transcripts.languages import seconds_by_language
from worker.engines.base import Heard, Languages, Stopped, TranscriptionEngine
from worker.pre.quiet import is_quiet
from worker.pre.shortfall import audio_end_s

logger = logging.getLogger(__name__)
MAX_ERROR_CHARS = 2000
# The key of SegmentJob.released, which the worker rewrites in a message it puts back unworked: how many of the
# message's dequeues were such releases, so that they do not count as attempts toward the poison queue.
RELEASED = "released"


@dataclass(frozen=True)
class WorkerOptions:
    visibility_timeout_s: int = 300
    max_dequeue_count: int = 5
    # The longest wait between polls of an empty queue: segments dispatched to idle workers wait half of it on
    # average. On Azure a replica lives only while there is work, plus --exit-when-idle (20 s): at most 100 polls.
    poll_interval_s: float = 0.2
    first_poll_interval_s: float = 0.05  # the first: a worker that just finished a segment looks again soon
    exit_when_idle_s: float | None = None  # a Container Apps job replica exits once the queue stays empty
    cancel_check_s: float = 2.0  # how often a running segment looks whether its job was canceled
    progress_every_s: float = 10.0  # how often a running segment says how far it got (shared/jobs/inflight.py)
    worker_id: str = "worker"
    # time.monotonic() by which no segment of this process may still be running; None: no deadline. On Azure the
    # platform kills a replica at the job's replicaTimeout, mid-segment (worker/__main__.py --deadline).
    deadline_at: float | None = None
    segment_budget_s: float = 600.0  # what a segment may take before this process has timed one (--segment-budget)
    deadline_safety: float = 1.5  # estimates are the slowest this process has seen, times this


class Deadline:
    """Whether a segment taken now should end before the process's deadline, judged from the segments it worked.

    A segment cut off by the platform's kill comes back only after its visibility timeout, as a retry that counts
    toward the poison queue; a segment not taken waits, visible, for the next execution to start. So estimates err
    long: the longest segment (or the slowest seconds of work per second of audio) seen so far, times ``safety``.
    Before any segment is timed the estimate is ``budget_s``, capped at half the time the process had when it
    became ready: with a longer one a fresh execution would refuse every segment, and the backlog would never
    drain. A fresh execution therefore always takes a segment, whatever the estimates of the one before it.
    """

    def __init__(
        self, at: float | None, budget_s: float, safety: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.at, self.safety, self._clock = at, safety, clock
        self.prior_s = budget_s if at is None else max(0.0, min(budget_s, (at - clock()) / 2))
        self.longest_s: float | None = None  # wall time of the longest segment worked
        self.per_audio_s: float | None = None  # the slowest wall seconds per second of audio

    def left_s(self) -> float:
        return math.inf if self.at is None else self.at - self._clock()

    def observe(self, audio_s: float, wall_s: float) -> None:
        self.longest_s = max(self.longest_s or 0.0, wall_s)
        if audio_s > 0:
            self.per_audio_s = max(self.per_audio_s or 0.0, wall_s / audio_s)

    def any_segment_s(self) -> float:
        """What the next segment may take, before its length is known: the longest so far, or the prior."""
        return self.prior_s if self.longest_s is None else self.longest_s * self.safety

    def segment_s(self, audio_s: float) -> float:
        """What a segment of ``audio_s`` seconds may take at the slowest pace seen so far, or the prior."""
        return self.prior_s if self.per_audio_s is None else audio_s * self.per_audio_s * self.safety

    def allows(self, estimate_s: float) -> bool:
        return estimate_s <= self.left_s()


class VisibilityRenewer:
    """Keeps a message invisible while it is being worked on, and knows its latest pop receipt."""

    def __init__(self, queue: QueueClient, message: QueueMessage, visibility_s: int) -> None:
        self._queue, self._visibility = queue, visibility_s
        self.message_id, self.pop_receipt = message.id, message.pop_receipt
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="renew-visibility", daemon=True)

    def __enter__(self) -> VisibilityRenewer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(max(self._visibility / 3, 0.5)):
            with self._lock:
                try:
                    updated = self._queue.update_message(
                        self.message_id, pop_receipt=self.pop_receipt, visibility_timeout=self._visibility
                    )
                    self.pop_receipt = updated.pop_receipt
                except Exception:
                    logger.warning("could not renew visibility of message %s", self.message_id, exc_info=True)

    def current(self) -> str | None:
        with self._lock:
            return self.pop_receipt


class SegmentWorker:
    """The queue loop around one loaded engine: any :class:`~worker.engines.base.TranscriptionEngine`, so the loop does
    not change with the model behind it."""

    def __init__(
        self,
        transcriber: TranscriptionEngine,
        blobs: BlobServiceClient,
        jobs_queue: QueueClient,
        results_queue: QueueClient,
        jobs: JobStore,
        options: WorkerOptions,
        poison_queue: QueueClient | None = None,
    ) -> None:
        self.transcriber, self.blobs, self.jobs = transcriber, blobs, jobs
        self.jobs_queue, self.results_queue, self.options = jobs_queue, results_queue, options
        self.poison_queue = poison_queue  # <segment-jobs>-poison; None: a poisoned message is only reported
        self.deadline = Deadline(options.deadline_at, options.segment_budget_s, options.deadline_safety)

    def run(self, stop: threading.Event) -> int:
        """Process messages until ``stop`` is set, the queue stays empty for ``exit_when_idle_s``, or the deadline
        leaves no time for another segment."""
        handled, idle_since, delay = 0, time.monotonic(), 0.0
        while not stop.is_set():
            if not self.deadline.allows(needed_s := self.deadline.any_segment_s()):
                self._out_of_time(needed_s)
                break
            try:
                messages = self._next_batch()
            except Exception:  # a storage blip must not kill the worker: messages reappear and are retried
                logger.exception("worker loop error; continuing")
                stop.wait(self.options.poll_interval_s)
                continue
            if messages is None:  # put back: this worker has no time left for it
                break
            if messages:
                handled += len(messages)
                idle_since, delay = time.monotonic(), 0.0
                continue
            idle = self.options.exit_when_idle_s
            if idle is not None and time.monotonic() - idle_since >= idle:
                break
            # Back off while the queue stays empty, as the Functions queue listener does: segments dispatched just
            # after a worker found the queue empty wait 50 ms rather than the full interval, and an idle replica
            # still polls at most five times a second.
            delay = min(max(2 * delay, self.options.first_poll_interval_s), self.options.poll_interval_s)
            stop.wait(delay)
        return handled

    def _out_of_time(self, needed_s: float) -> None:
        left = self.deadline.left_s()
        logger.info(
            "worker %s stopping: %.1f s left before its deadline, a segment may take %.1f s",
            self.options.worker_id,
            left,
            needed_s,
        )

    def _next_batch(self) -> list[QueueMessage] | None:
        """Take one message and handle it; returns what was taken (empty when the queue was empty), or ``None`` when
        the message was put back because it might not be finished before the deadline."""
        messages = list(
            self.jobs_queue.receive_messages(max_messages=1, visibility_timeout=self.options.visibility_timeout_s)
        )
        for message in messages:
            job = _segment_job(message)
            if job is not None and not self.deadline.allows(self.deadline.segment_s(_audio_s(job))):
                self._release(job, message)
                return None
            self.handle(message)
        return messages

    def _release(self, job: SegmentJob, message: QueueMessage) -> None:
        """Put a taken message back unworked, visible at once, for the next execution to take.

        The receive raised the message's dequeue count, which decides poisoning (:meth:`_handle`); so the message
        is rewritten in place (Update Message: new content, visibility 0) with its count of such releases, which
        :func:`_attempt` subtracts. Why not send a copy and delete this one, which also resets the count: that is
        two calls, and a crash between them leaves two messages, both worked (tolerated, but twice the work); the
        copy goes to the back of the queue; and it starts at dequeue count 0, losing the crashes this segment
        already caused, so a segment that kills every worker could come back without end. One update is atomic:
        if it fails the message reappears after its visibility timeout with one attempt counted, as if this
        worker had been killed, and nothing is lost or doubled."""
        audio_s, left_s = _audio_s(job), self.deadline.left_s()
        try:
            self.jobs_queue.update_message(
                message.id, message.pop_receipt, content=_with_release(message.content), visibility_timeout=0
            )
        except Exception:
            logger.warning("could not put back job_id=%s index=%d", job.job_id, job.index, exc_info=True)
            return
        logger.info(
            "put back job_id=%s index=%d audio_s=%.1f: %.1f s left before the deadline, it may take %.1f s",
            job.job_id,
            job.index,
            audio_s,
            left_s,
            self.deadline.segment_s(audio_s),
        )

    def handle(self, message: QueueMessage) -> None:
        job = _segment_job(message)
        if job is None:
            logger.error("dropping a message that is not a segment job: id=%s", message.id)
            self.jobs_queue.delete_message(message.id, message.pop_receipt)
            return
        taken, started = datetime.now(UTC), time.perf_counter()
        with tracing.span(Span.SEGMENT, job.traceparent, self._attributes(job, message), tracing.CONSUMER):
            self._waited(job, message, taken)
            self._handle(job, message)
        job_metrics.worker_busy(self.transcriber.device, self.transcriber.model_name, time.perf_counter() - started)

    def _attributes(self, job: SegmentJob, message: QueueMessage) -> dict[str, Any]:
        return {
            Attr.JOB_ID: job.job_id,
            Attr.SEGMENT_INDEX: job.index,
            Attr.ATTEMPT: _attempt(message),
            Attr.AUDIO_S: round(job.window.end_s - job.window.start_s, 3),
            Attr.MODEL: self.transcriber.model_name,
            Attr.DEVICE: self.transcriber.device,
            Attr.COMPUTE_TYPE: self.transcriber.compute_type,
            Attr.WORKER_ID: self.options.worker_id,
        }

    def _waited(self, job: SegmentJob, message: QueueMessage, taken: datetime) -> None:
        """The message's time in the queue (since it was put there, earlier attempts included), and the backlog."""
        attempt = _attempt(message)
        # The dispatch's own clock when the message says it: the service's insertion time is cut to the second, so
        # the wait would seem to start up to 1 s early (before the job's own span, for a job dispatched at once).
        sent = job.dispatched_at or message.inserted_on
        if sent is not None:
            attributes = {Attr.JOB_ID: job.job_id, Attr.SEGMENT_INDEX: job.index, Attr.ATTEMPT: attempt}
            tracing.interval(Span.SEGMENT_QUEUE_WAIT, job.traceparent, sent, taken, attributes)
            job_metrics.queue_wait(max(0.0, (taken - sent).total_seconds()), attempt)
        with contextlib.suppress(Exception):  # a sample, not worth failing a segment over
            job_metrics.backlog(self.jobs_queue.get_queue_properties().approximate_message_count or 0)

    def _handle(self, job: SegmentJob, message: QueueMessage) -> None:
        dequeued = _attempt(message)  # the service's dequeue count (always set on a received message), less releases
        if dequeued > self.options.max_dequeue_count:
            self._give_up(job, message, dequeued - 1)
            return
        if self._canceled(job.job_id):
            logger.info("skipping a segment of a finished job job_id=%s index=%d", job.job_id, job.index)
            self.jobs_queue.delete_message(message.id, message.pop_receipt)
            return
        # Before any work: the batch's deadline tells a taken segment gone silent from one still queued
        mark_taken(self.blobs.get_container_client(job.result_container), job)
        with VisibilityRenewer(self.jobs_queue, message, self.options.visibility_timeout_s) as renewer:
            finished = self._work(job, message)
        if finished:
            self.jobs_queue.delete_message(message.id, renewer.current())

    def _give_up(self, job: SegmentJob, message: QueueMessage, attempts: int) -> None:
        """A segment that failed (or killed its worker) on every attempt: kept on the poison queue for an operator,
        reported so the job fails now with ``segment_failed``, then deleted. Each step is safe to repeat: a crash
        in between brings the message back over the limit, and the batch drops a second report."""
        job_metrics.segment_poisoned()
        where = "deleted (this worker has no poison queue)"
        if self.poison_queue is not None:
            self.poison_queue.send_message(message.content)  # the same bytes: the same encoding policy
            where = f"moved to {self.poison_queue.queue_name}"
        logger.error("segment poisoned job_id=%s index=%d attempts=%d; %s", job.job_id, job.index, attempts, where)
        error = f"the segment failed on each of its {attempts} attempts (its message was {where})"
        self._report(job, ok=False, code=ErrorCode.SEGMENT_FAILED, error=error)
        self.jobs_queue.delete_message(message.id, message.pop_receipt)

    def _work(self, job: SegmentJob, message: QueueMessage) -> bool:
        attempt, started = _attempt(message), time.monotonic()
        logger.info("segment started job_id=%s index=%d attempt=%d", job.job_id, job.index, attempt)
        try:
            result = self._transcribe(job)
        except Stopped as stopped:
            logger.info("stopped a segment of a canceled job job_id=%s index=%d: %s", job.job_id, job.index, stopped)
            return True  # nothing to report: the orchestration has been terminated
        except ResourceModifiedError:
            self._report(
                job, ok=False, code=ErrorCode.SOURCE_CHANGED, error="the source blob was replaced during the job"
            )
            return True
        except PermanentError as exc:
            logger.warning("segment failed for good job_id=%s index=%d: %s", job.job_id, job.index, exc.code.slug)
            self._report(job, ok=False, code=exc.code, error=exc.detail)
            return True
        except Exception as exc:
            logger.exception(
                "segment failed job_id=%s index=%d attempt=%d; it will be retried",
                job.job_id,
                job.index,
                attempt,
            )
            current = trace.get_current_span()
            current.record_exception(exc)
            tracing.fail(current, ErrorCode.SEGMENT_RETRY.slug, type(exc).__name__)
            return False
        self._report(job, ok=True, result=result)
        # Timed only when the model heard words: a quiet or speech-free window takes a fraction of a speech one's
        # time, and as the only sample it would make the deadline's estimates far too short.
        if result.segments:
            self.deadline.observe(_audio_s(job), time.monotonic() - started)
        return True

    def _transcribe(self, job: SegmentJob) -> SegmentResult:
        from shared.audio.blob_reader import BlobRangeReader
        from shared.audio.decode import read_window

        blob = self.blobs.get_blob_client(job.source_container, job.source_blob, snapshot=job.source_snapshot)
        started = time.perf_counter()
        # 4 MiB chunks: a 300 s window of 16 kHz PCM is 3 requests; pinned to the version that was committed
        etag = None if job.source_snapshot else job.source_etag  # a snapshot cannot change; pin a live blob
        with (
            tracing.child(Span.SEGMENT_DECODE) as decode_span,
            BlobRangeReader(blob, size=None, etag=etag, chunk_size=4 << 20) as reader,
        ):
            samples = read_window(reader, job.audio, job.window.start_s, job.window.end_s)
            decode_span.set_attribute(Attr.READ_S, round(reader.read_s, 3))
            decode_span.set_attribute(Attr.BYTES, reader.bytes_fetched)
        decoded = time.perf_counter()
        progress = InflightProgress(
            self.blobs.get_container_client(job.result_container), job, self.options.progress_every_s
        )
        ended, loudest = audio_end_s(job.window, len(samples)), peak_dbfs(samples)
        if ended is not None:
            logger.warning(
                "audio ends early job_id=%s index=%d at %.3f s, in a window ending at %.3f s (declared %.3f s)",
                job.job_id,
                job.index,
                ended,
                job.window.end_s,
                job.audio.duration_s,
            )
        with tracing.child(Span.SEGMENT_INFERENCE) as inference_span:
            heard = Heard(segments=[], language=None, language_probability=None)  # a quiet window: no language vote
            if is_quiet(samples):  # nothing the model could hear (worker/pre/quiet.py): skip its ~1 s of VAD
                logger.info("quiet window skipped job_id=%s index=%d", job.job_id, job.index)
            else:
                heard = self.transcriber.transcribe(
                    samples,
                    job.window,
                    _languages(job),
                    job.beam_size,
                    job.vad_filter,
                    keep_going=self._still_wanted(job),
                    on_progress=progress.reached,
                )
            audio_s = job.window.end_s - job.window.start_s
            inference_s = time.perf_counter() - decoded
            inference_span.set_attribute(Attr.RTFX, round(audio_s / inference_s, 2) if inference_s > 0 else 0.0)
        result = SegmentResult(
            job_id=job.job_id,
            index=job.index,
            window=job.window,
            language=heard.language,
            language_probability=heard.language_probability,
            segments=heard.segments,
            untranscribed=heard.untranscribed,
            audio_end_s=ended,
            peak_dbfs=loudest,
            model=self.transcriber.model_name,
            device=self.transcriber.device,
            compute_type=self.transcriber.compute_type,
            decode_s=round(decoded - started, 3),
            transcribe_s=round(time.perf_counter() - decoded, 3),
            worker_id=self.options.worker_id,
        )
        with tracing.child(Span.SEGMENT_WRITE):
            self.blobs.get_blob_client(job.result_container, job.result_blob).upload_blob(
                result.model_dump_json().encode(),
                overwrite=True,
                content_settings=ContentSettings(content_type="application/json"),
            )
        progress.finished()
        t = self.transcriber
        job_metrics.segment_transcribed(t.model_name, t.device, t.compute_type, audio_s, inference_s)
        logger.info(
            "segment done job_id=%s index=%d audio_s=%.1f transcribe_s=%.2f",
            job.job_id,
            job.index,
            job.window.end_s - job.window.start_s,
            result.transcribe_s,
        )
        return result

    def _report(
        self,
        job: SegmentJob,
        ok: bool,
        result: SegmentResult | None = None,
        code: ErrorCode | None = None,
        error: str | None = None,
    ) -> None:
        """Tell the orchestration how the segment ended; a failure without a code is ``transcription_failed``."""
        report = SegmentDone(
            job_id=job.job_id,
            index=job.index,
            attempt=job.attempt,
            ok=ok,
            result_blob=blob_path(job.result_container, job.result_blob) if ok else None,
            error_code=code.slug if code else None,
            error_message=error[:MAX_ERROR_CHARS] if error else None,  # a queue message is 64 KiB at most
            audio_s=round(job.window.end_s - job.window.start_s, 3) if ok else 0.0,
            transcribe_s=result.transcribe_s if result else 0.0,
            languages=seconds_by_language(result.segments, job.window) if result else {},
            traceparent=tracing.current_traceparent(),
            reply_to=job.reply_to,
        )
        if not ok:
            failed = (code or ErrorCode.TRANSCRIPTION_FAILED).slug
            job_metrics.segment_failed(failed)
            tracing.fail(trace.get_current_span(), failed, error)
        self.results_queue.send_message(report.model_dump_json().encode())

    def _still_wanted(self, job: SegmentJob) -> Callable[[], bool]:
        """Asked between decoded chunks of a window: reads the job record at most every ``cancel_check_s``."""
        last_check, wanted = time.monotonic(), True

        def keep_going() -> bool:
            nonlocal last_check, wanted
            if wanted and time.monotonic() - last_check >= self.options.cancel_check_s:
                last_check, wanted = time.monotonic(), not self._canceled(job.job_id)
            return wanted

        return keep_going

    def _canceled(self, job_id: str) -> bool:
        with contextlib.suppress(PermanentError, ResourceNotFoundError):
            # A failed job is as finished as a canceled one: its other batches' segments are not wanted either; nor is
            # a copy of a segment (sent again after a deadline) whose job completed without it.
            return self.jobs.get(job_id).status in (JobStatus.CANCELED, JobStatus.FAILED, JobStatus.COMPLETED)
        return False


def _text(content: Any) -> str:
    return content.decode() if isinstance(content, bytes | bytearray) else str(content)


def _languages(job: SegmentJob) -> Languages:
    """What the job asked the engine for (checked against the model when the job was created)."""
    candidates = tuple(job.language_candidates) if job.language_candidates else None
    return Languages(forced=job.language, candidates=candidates, task=job.task)


def _audio_s(job: SegmentJob) -> float:
    return job.window.end_s - job.window.start_s


def _segment_job(message: QueueMessage) -> SegmentJob | None:
    """The message's segment job; ``None`` for anything else (``handle`` drops it)."""
    try:
        return SegmentJob.model_validate_json(_text(message.content))
    except (ValidationError, ValueError):
        return None


def _released(content: Any) -> int:
    """How many times a worker put this message back unworked (:meth:`SegmentWorker._release`)."""
    try:
        data = json.loads(_text(content))
        return int(data.get(RELEASED, 0)) if isinstance(data, dict) else 0
    except (ValueError, TypeError):
        return 0


def _attempt(message: QueueMessage) -> int:
    """Which attempt at the segment this is: its dequeues, less those where a worker put it back unworked."""
    return max(1, (message.dequeue_count or 1) - _released(message.content))


def _with_release(content: Any) -> bytes | str:
    """The message's content with one more release counted, in the type it came in (the queue's encode policy)."""
    data = json.loads(_text(content))
    data[RELEASED] = _released(content) + 1
    text = json.dumps(data, separators=(",", ":"))
    return text.encode() if isinstance(content, bytes | bytearray) else text
