"""A worker with a deadline (Container Apps kills a replica at its replicaTimeout) takes no segment it cannot
finish by then: it exits cleanly, and what it did not work is on the queue for the next execution at once.

Real Azurite and the real worker loop (``worker.segment_worker.SegmentWorker``: receive, visibility, cancel check,
result blob, report, delete); the model is left out as in the orchestration-scale tests
(tests/support/noop_worker.py), and "transcribing" takes ``pace`` seconds per second of audio so that the worker's
estimates have something to measure. One test runs ``python -m worker`` itself, with the real tiny.en.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy, QueueClient

from devhost.azurite import Azurite
from shared.contracts import SegmentDone, SegmentJob
from shared.jobs.store import JobStore
from tests.support.noop_worker import NoopTranscriber, NoopWorker
from tests.support.segment_jobs import segment_job
from worker.segment_worker import WorkerOptions

ROOT = Path(__file__).resolve().parents[2]
SEGMENTS, JOBS = "segments", "jobs"
IDLE_S = 30.0  # --exit-when-idle of a worker that must stop for its deadline: returning at this would be too late


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    with Azurite() as running:
        service = BlobServiceClient.from_connection_string(running.connection_string)
        for name in (SEGMENTS, JOBS):
            with contextlib.suppress(ResourceExistsError):
                service.create_container(name)
        yield running


@dataclass
class Queues:
    jobs: QueueClient
    results: QueueClient
    poison: QueueClient


@pytest.fixture
def queues(azurite: Azurite) -> Queues:
    name = f"deadline-{uuid.uuid4().hex[:12]}"
    made = [_queue(azurite, f"{name}{suffix}") for suffix in ("", "-results", "-poison")]
    for q in made:
        q.create_queue()
    return Queues(*made)


@pytest.fixture
def halt() -> Iterator[threading.Event]:
    """Set at the end of a test: a worker still "transcribing" (the test failed) stops sleeping."""
    event = threading.Event()
    yield event
    event.set()


def _queue(azurite: Azurite, name: str) -> QueueClient:
    return QueueClient.from_connection_string(
        azurite.connection_string,
        name,
        message_encode_policy=BinaryBase64EncodePolicy(),
        message_decode_policy=BinaryBase64DecodePolicy(),
    )


class PacedWorker(NoopWorker):
    """The real worker loop; its transcription takes ``pace`` seconds per second of audio and yields one word."""

    def __init__(self, pace: float, halt: threading.Event, **kwargs: Any) -> None:
        super().__init__(swallow=set(), words=True, **kwargs)
        self.pace, self.halt = pace, halt

    def _transcribe(self, job: SegmentJob) -> Any:
        self.halt.wait(self.pace * (job.window.end_s - job.window.start_s))
        return super()._transcribe(job)


def _worker(azurite: Azurite, queues: Queues, halt: threading.Event, pace: float, **options: Any) -> PacedWorker:
    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    return PacedWorker(
        pace=pace,
        halt=halt,
        transcriber=NoopTranscriber(),
        blobs=blobs,
        jobs_queue=queues.jobs,
        results_queue=queues.results,
        jobs=JobStore(blobs.get_container_client(JOBS)),
        poison_queue=queues.poison,
        options=WorkerOptions(poll_interval_s=0.1, **options),
    )


def _run(worker: PacedWorker, within_s: float) -> tuple[int | None, float]:
    """``worker.run`` in a thread: what it returned (``None``: still running after ``within_s``) and when."""
    stop, returned = threading.Event(), dict[str, int]()
    thread = threading.Thread(target=lambda: returned.setdefault("handled", worker.run(stop)), daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(within_s)
    elapsed = time.monotonic() - started
    stop.set()
    return returned.get("handled"), elapsed


def _send(queues: Queues, job_id: str, index: int, audio_s: float, hidden_s: int = 0) -> None:
    job = segment_job(job_id, index, audio_s=audio_s, model="noop", results=SEGMENTS)
    queues.jobs.send_message(job.model_dump_json().encode(), visibility_timeout=hidden_s or None)


def _reports(queues: Queues) -> list[SegmentDone]:
    """Every report sent so far (peeked: they stay on the queue)."""
    messages = queues.results.peek_messages(max_messages=32)
    return sorted((SegmentDone.model_validate_json(m.content) for m in messages), key=lambda r: r.index)


def _written(azurite: Azurite, job_id: str) -> list[str]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    found = service.get_container_client(SEGMENTS).list_blobs(name_starts_with=f"{job_id}/")
    return sorted(b.name for b in found if b.name.endswith(".json"))  # the results, not the in-flight marks


def test_a_worker_near_its_deadline_takes_no_new_segment_and_returns(
    azurite: Azurite, queues: Queues, halt: threading.Event
) -> None:
    """Segments take ~1 s here. 2.2 s before the deadline the worker works one; then 1.2 s or less is left, under
    1.5 x the 1 s it measured, so it takes no second one and ``run`` returns at once (not after IDLE_S). The
    second segment is on the queue, visible, never dequeued."""
    job_id = str(uuid.uuid4())
    for index in (0, 1):
        _send(queues, job_id, index, audio_s=4.0)
    worker = _worker(azurite, queues, halt, pace=0.25, deadline_at=time.monotonic() + 2.2, exit_when_idle_s=IDLE_S)
    handled, elapsed = _run(worker, within_s=8)
    assert handled == 1, f"run() returned {handled} after {elapsed:.1f} s (None: still running)"
    assert elapsed < 2.5
    left = list(queues.jobs.peek_messages(max_messages=32))  # peek sees only visible messages
    assert [(m.dequeue_count, SegmentJob.model_validate_json(m.content).index) for m in left] in ([(0, 0)], [(0, 1)])
    assert [r.ok for r in _reports(queues)] == [True]


def test_a_segment_put_back_is_visible_at_once_not_nearer_poison_and_the_next_worker_finishes_it(
    azurite: Azurite, queues: Queues, halt: threading.Event
) -> None:
    """The worker measures 0.25 s of work per audio second on a 2 s segment, then receives a 60 s one (sent
    hidden for 1 s, so it comes second): ~22 s of work with ~3 s left. It puts the message back, visible at once
    (not after the 300 s visibility timeout), and returns. The next execution, whose --max-dequeue is 1, works it
    as a first attempt: the put-back dequeue does not count toward the poison queue."""
    job_id = str(uuid.uuid4())
    _send(queues, job_id, 0, audio_s=2.0)
    _send(queues, job_id, 1, audio_s=60.0, hidden_s=1)
    first = _worker(azurite, queues, halt, pace=0.25, deadline_at=time.monotonic() + 4.0, exit_when_idle_s=IDLE_S)
    handled, elapsed = _run(first, within_s=8)
    assert handled == 1, f"run() returned {handled} after {elapsed:.1f} s (None: still working the 60 s segment)"
    assert elapsed < 4.0
    back = list(queues.jobs.peek_messages(max_messages=32))
    assert len(back) == 1, "the segment put back is not visible at once"
    assert SegmentJob.model_validate_json(back[0].content).index == 1
    assert back[0].dequeue_count == 1  # the service counted the receive: the next worker must not
    assert [r.index for r in _reports(queues)] == [0]

    after = _worker(azurite, queues, halt, pace=0.01, max_dequeue_count=1, exit_when_idle_s=0.5)
    assert _run(after, within_s=10)[0] == 1
    assert [(r.index, r.ok) for r in _reports(queues)] == [(0, True), (1, True)]  # not segment_failed
    assert _written(azurite, job_id) == [f"{job_id}/0.json", f"{job_id}/1.json"]
    assert list(queues.poison.peek_messages()) == []
    assert list(queues.jobs.peek_messages()) == []


@pytest.mark.parametrize("deadline_s", [None, 60.0], ids=["no-deadline", "generous-deadline"])
def test_without_a_near_deadline_every_segment_is_worked_until_the_queue_stays_empty(
    azurite: Azurite, queues: Queues, halt: threading.Event, deadline_s: float | None
) -> None:
    """No deadline, or one far off: the worker works each segment (a budget above the remaining time does not
    stop a fresh worker: it is capped at half of it) and returns only once the queue has been empty 0.5 s."""
    job_id = str(uuid.uuid4())
    for index in range(3):
        _send(queues, job_id, index, audio_s=2.0)
    deadline_at = None if deadline_s is None else time.monotonic() + deadline_s
    worker = _worker(
        azurite, queues, halt, pace=0.05, deadline_at=deadline_at, segment_budget_s=600, exit_when_idle_s=0.5
    )
    handled, elapsed = _run(worker, within_s=10)
    assert handled == 3
    assert elapsed >= 0.5
    assert [(r.index, r.ok) for r in _reports(queues)] == [(0, True), (1, True), (2, True)]
    assert list(queues.jobs.peek_messages()) == []


def test_python_m_worker_reads_its_deadline_from_the_environment_and_exits_cleanly(
    azurite: Azurite, queues: Queues
) -> None:
    """``TRANSCRIBE_DEADLINE_S`` counts from the process's start, model load included: 0.01 s has passed by the
    time tiny.en is loaded, so the worker takes nothing and exits 0 (its --exit-when-idle would be 30 s later)."""
    job_id = str(uuid.uuid4())
    _send(queues, job_id, 0, audio_s=2.0)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TRANSCRIBE_", "Storage"))},
        "Storage": azurite.connection_string,
        "TRANSCRIBE_SEGMENT_JOBS_QUEUE": queues.jobs.queue_name,
        "TRANSCRIBE_DEADLINE_S": "0.01",
    }
    argv = [sys.executable, "-m", "worker", "--device", "cpu", "--threads", "1", "--exit-when-idle", str(IDLE_S)]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=25, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "left before its deadline" in done.stdout + done.stderr
    left = list(queues.jobs.peek_messages())
    assert [m.dequeue_count for m in left] == [0]
