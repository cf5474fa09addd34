"""Segments that wait in a long queue are neither sent twice nor failed (bench/load found both).

A segment's no-progress deadline starts at its dispatch; in a busy service it may wait behind other jobs' work for
longer than that. At a deadline the batch now asks what the workers last wrote (shared/jobs/inflight.py): untaken
segments stay queued, and only a segment a worker took and went silent on is sent again. Meanwhile the status API
says the job waits for a worker, and how much waits in the queue with it. Model-free workers
(tests/support/noop_worker.py ``--words``: each segment's result is the word ``w{index}``).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.stack import LocalStack
from shared.jobs.records import JobStatus
from tests.faults.support import (
    NOOP,
    assert_queues_drain,
    many_segments_env,
    marker_text,
    record,
    start_job,
    transcripts,
    wait_done,
)
from tests.support.silence import silent_wav

pytestmark = pytest.mark.slow

SEGMENTS = 12


def test_segments_waiting_behind_a_backlog_are_worked_once_and_the_job_completes(tmp_path: Path) -> None:
    """The job waits 6 s for any worker with a 1 s no-progress deadline and 2 attempts: before the fix each
    deadline re-sent every pending segment and the job failed segment_timeout after 2 s, never having run."""
    env = many_segments_env(TRANSCRIBE_SEGMENT_TIMEOUT_S="1", TRANSCRIBE_SEGMENT_MAX_ATTEMPTS="2")
    path = silent_wav(tmp_path / "twelve.wav", SEGMENTS)  # 12 segments of 1 s
    with LocalStack(env=env, workers=0, worker_module=NOOP, worker_args=["--words"]) as stack:
        job_id = start_job(stack, path)
        seen = _progress_for(stack, job_id, seconds=6)  # the backlog: six deadlines pass, every segment queued
        assert record(stack, job_id).status == JobStatus.TRANSCRIBING
        last = seen[-1]  # issue 22: the status API said "transcribing, 0.0 %, eta null" and nothing else
        assert last["waiting_for_worker"] is True, seen[-3:]
        assert 0 < last["segments_waiting"] <= SEGMENTS and last["queue_backlog"] >= last["segments_waiting"], last
        worker = stack.start_worker()
        stack.wait_workers()
        status = wait_done(stack, job_id, timeout_s=60)
        assert status["runtimeStatus"] == "Completed", status
        log = worker.log_path.read_text()
        started = re.findall(rf"segment started job_id={job_id} index=(\d+)", log)
        assert sorted(map(int, started)) == list(range(SEGMENTS)), "a segment was worked twice or not at all"
        assert transcripts(stack, job_id)["txt"].decode().split() == marker_text(SEGMENTS).split()
        assert_queues_drain(stack)


def _progress_for(stack: LocalStack, job_id: str, seconds: float) -> list[dict[str, Any]]:
    """The job's ``progress`` as the status API shows it, polled for ``seconds`` and then on until it shows the job
    waiting for a worker (at most a minute more: no worker runs, so once dispatched it waits for good; a slow CPU
    may take a while to dispatch)."""
    seen: list[dict[str, Any]] = []
    started = time.monotonic()
    with httpx.Client(base_url=stack.base_url, headers={"x-functions-key": stack.function_key}, timeout=30) as http:
        while time.monotonic() - started < seconds or not (seen and seen[-1].get("waiting_for_worker")):
            if time.monotonic() - started > seconds + 60:
                break
            progress = http.get(f"/api/jobs/{job_id}").json().get("progress")
            if progress:
                seen.append(progress)
            time.sleep(0.5)
    assert seen, "the status API never showed progress"
    return seen
