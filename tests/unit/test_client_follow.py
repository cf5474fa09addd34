"""``client wait`` and ``scripts/transcribe`` follow a job through a slow or busy service, and stop at its end."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from client.api import ApiError
from client.follow import follow_job, progress_line


class Api:
    """Answers get_job from a script: an exception to raise, or (finished, job, retry_after)."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers, self.calls = answers, 0

    def get_job(self, job_id: str) -> Any:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, BaseException):
            raise answer
        return answer


RUNNING = {
    "status": "transcribing",
    "progress": {"segments_done": 3, "segments_total": 10, "percent": 30.0, "eta_s": 7},
}
DONE = {"status": "completed", "job_id": "j", "result": {}}


def test_timeouts_and_busy_answers_are_retried_with_backoff(capsys: pytest.CaptureFixture[str]) -> None:
    busy = ApiError(503, "storage_unavailable", "busy", {"code": "storage_unavailable"})
    api = Api([httpx.ReadTimeout("slow"), busy, (False, RUNNING, 5.0), httpx.ConnectError("down"), (True, DONE, 0)])
    slept: list[float] = []
    job = follow_job(api, "j", 600, show=False, sleep=slept.append)  # type: ignore[arg-type]
    assert job == DONE and api.calls == 5
    assert slept == [0.5, 1.0, 5.0, 0.5]  # backoff doubles, the next answer resets it; Retry-After capped at 5 s
    err = capsys.readouterr().err
    assert "did not answer (ReadTimeout); retrying" in err and "busy (storage_unavailable)" in err
    assert "30.0% transcribing 3/10 segments, ETA 7 s" in err


def test_a_failed_job_is_not_retried_even_when_its_code_is_a_5xx() -> None:
    failed = ApiError(500, "job_failed", "x", {"code": "job_failed", "job_error_code": "transcription_failed"})
    api = Api([failed, (True, DONE, 0)])
    with pytest.raises(ApiError):
        follow_job(api, "j", 600, show=False, sleep=lambda s: None)  # type: ignore[arg-type]
    assert api.calls == 1


def test_a_deadline_says_the_job_goes_on() -> None:
    api = Api([(False, RUNNING, 0.0)])
    with pytest.raises(TimeoutError, match="it goes on"):
        follow_job(api, "j", 0.05, show=False, sleep=lambda s: None)  # type: ignore[arg-type]


def test_progress_line_reads_like_the_transcribe_script() -> None:
    assert progress_line(RUNNING) == "transcribing 3/10 segments, ETA 7 s"
    assert progress_line({"status": "queued"}) == "queued 0/? segments"


QUEUED = {
    "status": "transcribing",
    "progress": {
        "segments_done": 0,
        "segments_total": 12,
        "percent": 0.0,
        "eta_s": None,
        "waiting_for_worker": True,
        "segments_waiting": 12,
        "queue_backlog": 40,
    },
}


def test_a_job_waiting_in_the_queue_says_so() -> None:
    """Issue 22: a job behind others read "transcribing 0/12 segments" with no ETA for minutes, like a hang."""
    assert (
        progress_line(QUEUED)
        == "transcribing 0/12 segments, queued for a worker (12 segments waiting, about 40 in the queue)"
    )
    unknown = {**QUEUED, "progress": {**QUEUED["progress"], "segments_waiting": 1, "queue_backlog": None}}
    assert progress_line(unknown) == "transcribing 0/12 segments, queued for a worker (1 segment waiting)"


def test_the_log_gets_a_line_when_a_worker_takes_the_job(capsys: pytest.CaptureFixture[str]) -> None:
    """Leaving the queue prints at once, although the percentage has not moved 5 points yet."""
    started = {"status": "transcribing", "progress": {"segments_done": 0, "segments_total": 12, "percent": 1.0}}
    api = Api([(False, QUEUED, 0.0), (False, started, 0.0), (True, DONE, 0)])
    follow_job(api, "j", 600, show=False, sleep=lambda s: None)  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert "  0.0% transcribing 0/12 segments, queued for a worker" in err
    assert "  1.0% transcribing 0/12 segments\n" in err
