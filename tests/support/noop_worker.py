"""``python -m tests.support.noop_worker``: the real worker loop with the transcription left out.

For orchestration-scale tests (thousands of segments) the model and the audio are beside the point: this runs
``worker.segment_worker.SegmentWorker`` (queue handling, visibility, cancel checks, result blobs, reports, all
real) with ``_transcribe`` replaced by an empty result. ``--swallow I,J,...`` makes the first attempt of those
segment indices vanish (the message is deleted and nothing is reported, as when a worker's report is lost), so the
orchestration's no-progress deadline and redispatch are exercised.

Fault injection (tests/faults/): ``--crash-on I,J`` kills the process (SIGKILL, as the kernel's OOM killer or a
native crash would) whenever it takes one of those segments, so they poison every worker that tries them;
``--report-twice`` sends every segment report twice (a duplicate SegmentDone); ``--words`` makes each result one
word, ``w{index}``, in the middle of the window's kept span, so that a transcript shows every segment exactly once
(a segment merged twice or lost changes its text). ``--languages`` (with ``--words``) shows what the segment's
message asked for: the word is ``w{index}-{task}.`` and its segment is in the forced language, else in candidate
``index % len(candidates)``, else English, as if each window had been heard in that language. ``--slow-on I,J``
makes those segments take ``--slow-s`` seconds (default 8), so a test can look at a job while it runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time

from azure.storage.blob import ContentSettings
from azure.storage.queue import QueueMessage

from shared.azure import storage
from shared.azure.queues import queue
from shared.config import get_settings
from shared.contracts import SEGMENT_RESULTS_QUEUE, Segment, SegmentJob, SegmentResult, Word
from shared.errors import ErrorCode
from shared.jobs.store import JobStore
from worker.segment_worker import SegmentWorker, WorkerOptions


class NoopTranscriber:
    model_name, device, compute_type = "noop", "cpu", "none"


class NoopWorker(SegmentWorker):
    def __init__(
        self,
        swallow: set[int],
        crash_on: frozenset[int] = frozenset(),
        report_twice: bool = False,
        words: bool = False,
        languages: bool = False,
        slow_on: frozenset[int] = frozenset(),
        slow_s: float = 8.0,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.swallow, self.crash_on, self.report_twice, self.words = swallow, crash_on, report_twice, words
        self.languages, self.slow_on, self.slow_s = languages, slow_on, slow_s

    def _work(self, job: SegmentJob, message: QueueMessage) -> bool:
        if job.index in self.crash_on:
            logging.getLogger(__name__).warning("crashing on job_id=%s index=%d", job.job_id, job.index)
            logging.shutdown()
            os.kill(os.getpid(), signal.SIGKILL)
        if job.index in self.slow_on:
            time.sleep(self.slow_s)
        if job.index in self.swallow and job.attempt == 1:
            logging.getLogger(__name__).info("swallowed job_id=%s index=%d", job.job_id, job.index)
            return True  # deleted, never reported
        return super()._work(job, message)

    def _report(
        self,
        job: SegmentJob,
        ok: bool,
        result: SegmentResult | None = None,
        code: ErrorCode | None = None,
        error: str | None = None,
    ) -> None:
        for _ in range(2 if self.report_twice else 1):
            super()._report(job, ok, result=result, code=code, error=error)

    def _transcribe(self, job: SegmentJob) -> SegmentResult:
        result = SegmentResult(
            job_id=job.job_id,
            index=job.index,
            window=job.window,
            language=_language(job) if self.languages else "en",
            segments=[_marker(job, self.languages)] if self.words else [],
            model="noop",
            device="cpu",
            compute_type="none",
            decode_s=0.0,
            transcribe_s=0.0,
            worker_id=self.options.worker_id,
        )
        self.blobs.get_blob_client(job.result_container, job.result_blob).upload_blob(
            result.model_dump_json().encode(),
            overwrite=True,
            content_settings=ContentSettings(content_type="application/json"),
        )
        return result


def _marker(job: SegmentJob, languages: bool = False) -> Segment:
    """One word naming the segment, inside the span the stitcher keeps from this window (with ``languages``: in
    the language the message asked for, and naming its task)."""
    middle = (job.window.keep_start_s + job.window.keep_end_s) / 2
    # a sentence of its own with languages: the stitcher joins segments that read as one sentence cut at a seam
    text = f" w{job.index}-{job.task}." if languages else f" w{job.index}"
    language = _language(job) if languages else None
    word = Word(start=middle - 0.1, end=middle + 0.1, word=text, probability=1.0, language=language)
    return Segment(start=word.start, end=word.end, text=word.word, words=[word], language=language)


def _language(job: SegmentJob) -> str:
    if job.language:
        return job.language
    return job.language_candidates[job.index % len(job.language_candidates)] if job.language_candidates else "en"


def _indices(text: str) -> set[int]:
    return {int(i) for i in text.split(",") if i}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", default="1")
    parser.add_argument("--worker-id", default="noop")
    parser.add_argument("--swallow", default="")
    parser.add_argument("--crash-on", default="", help="segment indices that kill this process when taken")
    parser.add_argument("--report-twice", action="store_true", help="send every segment report twice")
    parser.add_argument("--words", action="store_true", help="one word per segment, w{index}")
    parser.add_argument("--languages", action="store_true", help="the word in the language the message asked for")
    parser.add_argument("--slow-on", default="", help="segment indices that take --slow-s seconds")
    parser.add_argument("--slow-s", type=float, default=8.0)
    parser.add_argument("--visibility-timeout", type=int, default=300)
    parser.add_argument("--max-dequeue", type=int, default=5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    settings = get_settings()
    worker = NoopWorker(
        swallow=_indices(args.swallow),
        crash_on=frozenset(_indices(args.crash_on)),
        report_twice=args.report_twice,
        words=args.words,
        languages=args.languages,
        slow_on=frozenset(_indices(args.slow_on)),
        slow_s=args.slow_s,
        transcriber=NoopTranscriber(),
        blobs=storage.blob_service(),
        jobs_queue=queue(settings.segment_jobs_queue),
        results_queue=queue(SEGMENT_RESULTS_QUEUE),
        jobs=JobStore(storage.container(settings.jobs_container)),
        poison_queue=queue(f"{settings.segment_jobs_queue}-poison"),
        options=WorkerOptions(
            worker_id=args.worker_id,
            poll_interval_s=0.2,
            visibility_timeout_s=args.visibility_timeout,
            max_dequeue_count=args.max_dequeue,
        ),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"worker {args.worker_id}: ready (noop)", flush=True)
    worker.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
