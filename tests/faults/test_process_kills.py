"""kill -9 of a worker and of the host at the moments that matter; each job still ends once, with nothing doubled.

The host kills use the model-free worker (tests/support/noop_worker.py with ``--words``: each segment's result is
the one word ``w{index}``, so the transcript is ``w0 w1 ... w59`` exactly when every segment was merged once). To
land a kill "during the fan-out" and "during the merge" every time, the host is started with
``DEVHOST_HOLD_ACTIVITY_COMPLETION``: the named activity does all its work but its completion is never recorded,
which is the widest window in which a crash makes Durable run an activity twice. "During webhook delivery" is a
receiver that holds the request open while the host is killed. The worker kill uses real tiny.en workers, since
there the point is that the transcript is word for word a clean run's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.stack import LocalStack
from shared.contracts import Transcript
from shared.jobs.records import JobStatus
from tests.faults.support import (
    DATA,
    NOOP,
    HoldingReceiver,
    assert_each_segment_counted_once,
    assert_queues_drain,
    instances,
    many_segments_env,
    marker_text,
    record,
    restart_host,
    segment_results,
    start_job,
    transcripts,
    wait_done,
    wait_for,
    watching,
)
from tests.support import recording
from tests.support.silence import silent_wav

pytestmark = pytest.mark.slow

HOLD = "DEVHOST_HOLD_ACTIVITY_COMPLETION"
SECONDS = 60  # 1 s windows: 60 segments in 6 batches of 10


@pytest.fixture(scope="module")
def noop_stack() -> Iterator[LocalStack]:
    env = many_segments_env(TRANSCRIBE_WEBHOOK_BACKOFF_S="0.5", TRANSCRIBE_WEBHOOK_ATTEMPTS="3")
    # Reports the killed host had taken come back after 4 s rather than Azure's 10 minutes (and are then dropped as
    # late): they must be handled, not left on the queue.
    env["DEVHOST_QUEUE_FETCH_VISIBILITY_S"] = "4"
    with LocalStack(env=env, workers=2, worker_module=NOOP, worker_args=["--words"]) as stack:
        yield stack


@pytest.fixture(scope="module")
def minute(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return silent_wav(tmp_path_factory.mktemp("audio") / "minute.wav", SECONDS)


def held(stack: LocalStack, activity: str) -> bool:
    return f"holding the completion of activity {activity}" in stack.devhost.log_tail(400)  # type: ignore[union-attr]


def host_log(stack: LocalStack) -> str:
    """The host's whole log, across its restarts (each appends to the same file)."""
    assert stack.devhost is not None
    return stack.devhost.log_path.read_text(errors="replace")


def assert_completed_once(stack: LocalStack, job_id: str, status: dict[str, object], count: int) -> None:
    """The job ended once, completed, every segment counted once, and nothing is left anywhere."""
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["words"] == count  # type: ignore[index]  # one marker word per window
    files = transcripts(stack, job_id)  # exactly the four files
    assert files["txt"].decode().split() == marker_text(count).split()  # every segment once, in order
    assert Transcript.model_validate_json(files["json"]).text.split() == marker_text(count).split()
    job = record(stack, job_id)
    assert job.status == JobStatus.COMPLETED and job.error is None
    assert job.result is not None and job.result["words"] == count
    assert_each_segment_counted_once(stack, job_id, count)
    final = status["customStatus"]  # the progress the job ended with
    assert (final["segments_done"], final["segments_total"], final["percent"]) == (count, count, 100.0)  # type: ignore[index]
    assert sorted(segment_results(stack, job_id)) == sorted(f"{job_id}/{i}.json" for i in range(count))
    # One orchestration for the job; its batches ended and were purged by the clean-up.
    wait_for(
        "batch sub-orchestrations purged",
        lambda: [i["instanceId"] for i in instances(stack) if i["instanceId"].startswith(job_id)] == [job_id],
        timeout_s=30,
        every_s=0.25,
    )
    assert_queues_drain(stack)


def test_host_killed_during_fan_out(noop_stack: LocalStack, minute: Path) -> None:
    """The dispatch of the first batches has queued its segment messages but its completion is lost with the host.
    Workers go on transcribing while the host is down (their reports wait on the queue); the restarted host
    dispatches those batches again, so their segments are queued and reported twice, and must count once."""
    restart_host(noop_stack, **{HOLD: "dispatch_segments"})
    job_id = start_job(noop_stack, minute)
    wait_for("a dispatch held", lambda: held(noop_stack, "dispatch_segments"), timeout_s=60)
    wait_for("segments transcribed meanwhile", lambda: len(segment_results(noop_stack, job_id)) >= 5, timeout_s=30)
    restart_host(noop_stack, **{HOLD: None})
    with watching(noop_stack, job_id) as watcher:
        status = wait_done(noop_stack, job_id, timeout_s=120)
    log = host_log(noop_stack)
    assert len(re.findall(rf"dispatched job_id={job_id} ", log)) > SECONDS // 10, "no dispatch ran twice"
    assert not watcher.overcounts(), watcher.overcounts()[:3]
    assert_completed_once(noop_stack, job_id, status, SECONDS)


def test_host_killed_during_the_merge(noop_stack: LocalStack, minute: Path) -> None:
    """The merge wrote the transcripts and completed the record, then the host died before Durable recorded it. The
    restarted host merges again: the same bytes, the record's end not moved, one completion."""
    restart_host(noop_stack, **{HOLD: "merge_transcript"})
    job_id = start_job(noop_stack, minute)
    wait_for("the merge held", lambda: held(noop_stack, "merge_transcript"), timeout_s=90, every_s=0.1)
    first = transcripts(noop_stack, job_id)
    finished = record(noop_stack, job_id)
    assert finished.status == JobStatus.COMPLETED and finished.finished_at is not None
    restart_host(noop_stack, **{HOLD: None})
    status = wait_done(noop_stack, job_id, timeout_s=60)
    assert len(re.findall(rf"merged job_id={job_id} ", host_log(noop_stack))) == 2, "the merge did not run again"
    assert transcripts(noop_stack, job_id) == first  # rewritten byte for byte, timings included
    assert record(noop_stack, job_id).finished_at == finished.finished_at
    assert_completed_once(noop_stack, job_id, status, SECONDS)


def test_host_killed_during_webhook_delivery(noop_stack: LocalStack, minute: Path) -> None:
    """The receiver holds the first delivery open; the host dies with it in flight. The restarted host delivers
    again with the same webhook-id (receivers drop duplicates by it) and a valid signature; one delivery is
    answered, the job records it once, and nothing more is sent."""
    receiver = HoldingReceiver()
    try:
        job_id = start_job(noop_stack, minute, callback_url=receiver.url)
        secret = record(noop_stack, job_id).callback_secret
        assert secret
        assert receiver.first_arrived.wait(90), "no webhook delivery"
        restart_host(noop_stack)
        receiver.release.set()
        status = wait_done(noop_stack, job_id, timeout_s=60)
        wait_for("the delivery after the restart", lambda: receiver.answered, timeout_s=30)
        time.sleep(2.0)  # four backoff periods (0.5 s): a further attempt would have come by now
        ids = {headers["webhook-id"] for headers, _ in receiver.received}
        assert ids == {f"msg_{job_id}_completed"}
        assert len(receiver.received) == 2 and receiver.answered == [204]
        for headers, body in receiver.received:
            assert _signed(secret, headers, body)
        webhook = record(noop_stack, job_id).webhook
        assert webhook is not None and webhook.status == "delivered" and webhook.attempts == 1
        assert_completed_once(noop_stack, job_id, status, SECONDS)
    finally:
        receiver.close()


def _signed(secret: str, headers: dict[str, str], body: bytes) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, headers["webhook-signature"])


# --- a worker killed mid-segment (real tiny.en) ---------------------------------------------------------------------

SHORT = recording.PLANS["short"]  # speech_16k_mono.wav (22 s): 2 windows of ~11 s
WORKER_ENV = {
    "TRANSCRIBE_SEGMENT_WINDOW_S": str(SHORT["window_s"]),
    "TRANSCRIBE_SEGMENT_MIN_WINDOW_S": str(SHORT["min_window_s"]),
    "TRANSCRIBE_SEGMENT_OVERLAP_S": str(SHORT["overlap_s"]),
    "TRANSCRIBE_EXPECTED_WORKERS": str(SHORT["workers"]),
    "TRANSCRIBE_SEGMENT_TIMEOUT_S": "120",  # the redo comes from the queue's visibility timeout, not a redispatch
}


def test_worker_killed_mid_segment_redoes_it_once(tmp_path: Path) -> None:
    """A worker dies (SIGKILL) right after taking a segment. Its message reappears after the visibility timeout
    (8 s here), the other worker redoes it, and the job completes once with the words of a clean run."""
    args = ["--visibility-timeout", "8"]
    with LocalStack(env=WORKER_ENV, workers=2, worker_threads=1, worker_args=args) as stack:
        clean_id = start_job(stack, DATA / "speech_16k_mono.wav")
        clean = wait_done(stack, clean_id, timeout_s=120)
        assert clean["runtimeStatus"] == "Completed", clean
        victim = stack.workers[0]
        before = victim.log_tail(100000).count("segment started")
        job_id = start_job(stack, DATA / "speech_16k_mono.wav")
        taken = wait_for(
            "the victim takes a segment",
            lambda: re.search(rf"segment started job_id={job_id} index=(\d+)", victim.log_tail(100000)),
            timeout_s=60,
            every_s=0.02,
        )
        os.killpg(victim.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
        assert victim.log_tail(100000).count("segment started") == before + 1
        assert f"segment done job_id={job_id} index={taken[1]}" not in victim.log_tail(100000), "killed too late"
        with watching(stack, job_id) as watcher:
            status = wait_done(stack, job_id, timeout_s=120)
        assert status["runtimeStatus"] == "Completed", status
        assert not watcher.overcounts()
        survivor = stack.workers[1].log_tail(100000)
        assert f"segment started job_id={job_id} index={taken[1]} attempt=2" in survivor  # redone from the queue
        killed, undisturbed = transcripts(stack, job_id), transcripts(stack, clean_id)
        assert killed["txt"] == undisturbed["txt"] and killed["srt"] == undisturbed["srt"]
        assert Transcript.model_validate_json(killed["json"]).segments == (
            Transcript.model_validate_json(undisturbed["json"]).segments
        )
        job = record(stack, job_id)
        assert job.status == JobStatus.COMPLETED and job.result is not None
        same = ("duration_s", "language", "model", "segments", "words")  # the transcript's, not its paths
        assert {k: job.result[k] for k in same} == {k: clean["output"][k] for k in same}
        assert_queues_drain(stack)
