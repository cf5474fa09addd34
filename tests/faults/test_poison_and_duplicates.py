"""A segment that kills every worker that takes it, and deliveries that arrive twice.

Model-free workers (tests/support/noop_worker.py): ``--crash-on 3`` makes a worker SIGKILL itself when it takes
segment 3 (a native crash, the OOM killer), and the test restarts it, as Container Apps starts a new replica;
``--report-twice`` sends every SegmentDone twice; ``DEVHOST_BLOB_EVENT_COPIES=3`` has the host deliver every
BlobCreated three times at once (Event Grid delivers at least once), and a restart without its receipts redelivers
it after the end. ``--words`` makes each segment's result the word ``w{index}``, so a transcript shows a segment
counted twice or lost.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.queue import BinaryBase64DecodePolicy, QueueClient

from devhost.stack import LocalStack
from shared.contracts import SegmentJob
from shared.jobs.records import JobStatus
from tests.faults.support import (
    NOOP,
    assert_each_segment_counted_once,
    assert_queues_drain,
    blobs,
    durable_status,
    instances,
    many_segments_env,
    marker_text,
    record,
    restart_host,
    start_job,
    transcripts,
    wait_for,
    watching,
)
from tests.support.silence import silent_wav

pytestmark = pytest.mark.slow

POISON = 3
MAX_DEQUEUE = 2  # the worker's --max-dequeue: two crashes, then the third taker gives up on the segment


def test_a_segment_that_crashes_every_worker_fails_the_job_with_segment_failed(tmp_path: Path) -> None:
    """Segment 3 kills its worker each time. After the retry limit (two dequeues) the next worker moves the message
    to segment-jobs-poison and reports the segment failed: the job fails with ``segment_failed`` naming the segment,
    in bounded time, and the message is on the poison queue, not lost and not retried again."""
    args = ["--words", "--crash-on", str(POISON), "--visibility-timeout", "1", "--max-dequeue", str(MAX_DEQUEUE)]
    path = silent_wav(tmp_path / "ten.wav", 10)  # 10 segments of 1 s
    with LocalStack(env=many_segments_env(), workers=1, worker_module=NOOP, worker_args=args) as stack:
        started = time.monotonic()
        job_id = start_job(stack, path)
        crashes = 0
        while (status := durable_status(stack, job_id)) is None or status["runtimeStatus"] in ("Running", "Pending"):
            # 60 s: a crash costs the 1 s visibility timeout and a worker restart (~1-2 s here, more under load)
            assert time.monotonic() - started < 60, f"no end after {crashes} crashes"
            if stack.workers[0].proc.poll() is not None:  # type: ignore[union-attr]
                crashes += 1
                stack.replace_worker(0)
            time.sleep(0.1)
        assert status["runtimeStatus"] == "Failed", status
        error = status["customStatus"]["error"]
        assert error["code"] == "segment_failed"
        assert f"segment {POISON}:" in error["message"] and f"{MAX_DEQUEUE} attempts" in error["message"]
        assert "segment-jobs-poison" in error["message"]
        assert crashes == MAX_DEQUEUE  # each attempt crashed a worker; the one over the limit did not run it
        job = record(stack, job_id)
        assert job.status == JobStatus.FAILED and job.error is not None and job.error.code == "segment_failed"
        poison = QueueClient.from_connection_string(
            stack.connection_string, "segment-jobs-poison", message_decode_policy=BinaryBase64DecodePolicy()
        )
        (kept,) = poison.peek_messages(max_messages=32)
        segment = SegmentJob.model_validate_json(kept.content)
        assert (segment.job_id, segment.index) == (job_id, POISON)
        time.sleep(2.0)  # two visibility timeouts: a message still in play would have crashed the worker again
        assert stack.workers[0].proc.poll() is None, "the poisoned segment was taken again"  # type: ignore[union-attr]
        assert_queues_drain(stack, expect={"segment-jobs-poison": 1})


@pytest.fixture(scope="module")
def doubling_stack() -> Iterator[LocalStack]:
    env = many_segments_env(DEVHOST_BLOB_EVENT_COPIES="3")
    args = ["--words", "--report-twice"]
    with LocalStack(env=env, workers=2, worker_module=NOOP, worker_args=args) as stack:
        yield stack


def test_duplicate_deliveries_start_one_orchestration_and_count_each_segment_once(
    doubling_stack: LocalStack, tmp_path: Path
) -> None:
    """Each commit's BlobCreated arrives three times at once, and every segment's report twice: one orchestration,
    progress never past 100 % or past the segment count, every segment in the transcript exactly once."""
    stack, seconds = doubling_stack, 30
    job_id = start_job(stack, silent_wav(tmp_path / "half.wav", seconds))
    with watching(stack, job_id) as watcher:
        status = wait_for(
            "the job's end",
            lambda: (s := durable_status(stack, job_id)) and s["runtimeStatus"] not in ("Running", "Pending") and s,
            timeout_s=90,
            every_s=0.2,
        )
    assert status["runtimeStatus"] == "Completed", status
    assert watcher.seen, "the status was never read while the job ran"
    assert not watcher.overcounts(), watcher.overcounts()[:3]
    assert_each_segment_counted_once(stack, job_id, seconds)
    files = transcripts(stack, job_id)
    assert files["txt"].decode().split() == marker_text(seconds).split()
    job = record(stack, job_id)
    assert job.status == JobStatus.COMPLETED and job.result is not None and job.result["words"] == seconds
    log = _log(stack)
    assert len(re.findall(rf"transcription started job_id={job_id}", log)) == 1
    ingests = re.findall(rf"(?:another delivery|orchestration already exists|ignoring a commit)[^\n]*{job_id}", log)
    assert ingests, "the duplicate deliveries never reached the function"
    assert [i["instanceId"] for i in instances(stack) if i["instanceId"] == job_id] == [job_id]
    assert_queues_drain(stack)
    _redelivered_after_the_end(stack, job_id, files)


def _redelivered_after_the_end(stack: LocalStack, job_id: str, files: dict[str, bytes]) -> None:
    """Event Grid redelivers to an endpoint that was away: the host loses its receipts for the upload and restarts,
    so the commit's BlobCreated arrives (three times) after the job completed. Nothing starts again."""
    finished = record(stack, job_id).finished_at
    names = _receipts(stack, job_id)
    assert names, "no receipt for the upload"
    for name in names:
        blobs(stack).get_container_client("azure-webjobs-hosts").delete_blob(name)
    restart_host(stack)
    wait_for("the late deliveries settled (receipts written again)", lambda: _receipts(stack, job_id), timeout_s=30)
    time.sleep(1.0)  # anything a delivery started has had time to show in the log
    assert len(re.findall(rf"transcription started job_id={job_id}", _log(stack))) == 1
    assert _log(stack).count(f"ignoring a commit for a job that is completed job_id={job_id}") == 3
    assert durable_status(stack, job_id)["runtimeStatus"] == "Completed"  # type: ignore[index]
    assert transcripts(stack, job_id) == files
    assert record(stack, job_id).finished_at == finished


def _receipts(stack: LocalStack, job_id: str) -> list[str]:
    """The host's blob receipts for the job's upload (devhost/triggers/blob_receipts.py)."""
    receipts = blobs(stack).get_container_client("azure-webjobs-hosts")
    return [b.name for b in receipts.list_blobs(name_starts_with="blobreceipts/") if f"/uploads/{job_id}/" in b.name]


def _log(stack: LocalStack) -> str:
    return stack.devhost.log_path.read_text(errors="replace")  # type: ignore[union-attr]
