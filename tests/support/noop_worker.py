"""``python -m tests.support.noop_worker``: the real worker loop with the transcription left out.

For orchestration-scale tests (thousands of segments) the model and the audio are beside the point: this runs
``worker.segment_worker.SegmentWorker`` (queue handling, visibility, cancel checks, result blobs, reports, all
real) with ``_transcribe`` replaced by an empty result. ``--swallow I,J,...`` makes the first attempt of those
segment indices vanish (the message is deleted and nothing is reported, as when a worker's report is lost), so the
orchestration's no-progress deadline and redispatch are exercised.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from azure.storage.blob import ContentSettings
from azure.storage.queue import QueueMessage

from shared import storage
from shared.config import get_settings
from shared.contracts import SEGMENT_RESULTS_QUEUE, SegmentJob, SegmentResult
from shared.jobs import JobStore
from shared.queues import queue
from worker.segment_worker import SegmentWorker, WorkerOptions


class NoopTranscriber:
    model_name, device, compute_type = "noop", "cpu", "none"


class NoopWorker(SegmentWorker):
    def __init__(self, swallow: set[int], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.swallow = swallow

    def _work(self, job: SegmentJob, message: QueueMessage) -> bool:
        if job.index in self.swallow and job.attempt == 1:
            logging.getLogger(__name__).info("swallowed job_id=%s index=%d", job.job_id, job.index)
            return True  # deleted, never reported
        return super()._work(job, message)

    def _transcribe(self, job: SegmentJob) -> SegmentResult:
        result = SegmentResult(
            job_id=job.job_id,
            index=job.index,
            window=job.window,
            language="en",
            segments=[],
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", default="1")
    parser.add_argument("--worker-id", default="noop")
    parser.add_argument("--swallow", default="")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    settings = get_settings()
    worker = NoopWorker(
        swallow={int(i) for i in args.swallow.split(",") if i},
        transcriber=NoopTranscriber(),
        blobs=storage.blob_service(),
        jobs_queue=queue(settings.segment_jobs_queue),
        results_queue=queue(SEGMENT_RESULTS_QUEUE),
        jobs=JobStore(storage.container(settings.jobs_container)),
        options=WorkerOptions(worker_id=args.worker_id, poll_interval_s=0.2),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"worker {args.worker_id}: ready (noop)", flush=True)
    worker.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
