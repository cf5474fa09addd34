"""What the status API says about a job whose segments wait in the shared queue (issue 22: "transcribing 0.0 %",
ETA null, for minutes)."""

from __future__ import annotations

from shared.jobs.inflight import InflightReport
from shared.jobs.queue_wait import QueueWait, queue_backlog, queue_wait


def _never() -> int | None:
    raise AssertionError("the queue was read although nothing waits in it")


def test_no_segment_taken_is_waiting_for_a_worker_with_the_queue_length() -> None:
    waits = queue_wait(InflightReport(), {0, 1, 2}, lambda: 40)
    assert waits.fields() == {"waiting_for_worker": True, "segments_waiting": 3, "queue_backlog": 40}


def test_a_worker_on_one_segment_is_not_waiting_but_the_rest_still_count() -> None:
    waits = queue_wait(InflightReport(audio_s=3.0, taken=frozenset({0})), {0, 1, 2}, lambda: 2)
    assert waits.fields() == {"waiting_for_worker": False, "segments_waiting": 2, "queue_backlog": 2}


def test_every_segment_taken_reads_no_queue() -> None:
    waits = queue_wait(InflightReport(taken=frozenset({0, 1})), {0, 1}, _never)
    assert waits.fields() == {"waiting_for_worker": False, "segments_waiting": 0, "queue_backlog": None}


def test_nothing_is_claimed_when_the_marks_could_not_be_listed() -> None:
    assert queue_wait(InflightReport(known=False), {0, 1}, _never) == QueueWait()
    assert QueueWait().fields()["waiting_for_worker"] is False


def test_an_unreadable_queue_is_unknown_not_an_error() -> None:
    class Broken:
        def get_queue_properties(self) -> None:
            raise ConnectionError("storage is down")

    assert queue_backlog(Broken(), "job-1") is None
