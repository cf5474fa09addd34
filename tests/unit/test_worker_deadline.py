"""worker.segment_worker's deadline arithmetic and release bookkeeping, with an injected clock (nothing waits).

The queue behaviour itself (a released message visible at once, the next worker taking it) is in
tests/integration/test_worker_deadline.py, on Azurite.
"""

from __future__ import annotations

import argparse
import json
import math

import pytest
from azure.storage.queue import QueueMessage

from worker.__main__ import parse_args
from worker.segment_worker import Deadline, _attempt, _released, _with_release
from worker.settings import load_worker_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_no_deadline_allows_anything() -> None:
    deadline = Deadline(None, budget_s=600, safety=1.5)
    assert deadline.left_s() == math.inf
    assert deadline.allows(deadline.any_segment_s())
    assert deadline.allows(1e12)


def test_before_any_segment_the_budget_is_capped_at_half_the_time_so_a_fresh_worker_always_takes_one() -> None:
    clock = Clock()
    short = Deadline(clock.now + 300, budget_s=600, safety=1.5, clock=clock)  # budget above the whole deadline
    assert short.any_segment_s() == short.segment_s(7200) == 150
    assert short.allows(short.any_segment_s())
    long = Deadline(clock.now + 3480, budget_s=600, safety=1.5, clock=clock)
    assert long.any_segment_s() == 600
    clock.now += 3480 - 599  # 599 s left: not enough for the budget
    assert not long.allows(long.any_segment_s())


def test_estimates_are_the_slowest_seen_times_the_safety_factor() -> None:
    clock = Clock()
    deadline = Deadline(clock.now + 1000, budget_s=600, safety=1.5, clock=clock)
    deadline.observe(audio_s=300, wall_s=30)  # 0.1 s per audio second
    deadline.observe(audio_s=100, wall_s=20)  # 0.2: the slowest pace, not the longest segment
    deadline.observe(audio_s=0, wall_s=1)  # no audio: counts for the longest only
    assert deadline.any_segment_s() == pytest.approx(45)  # the longest, 30 s, x 1.5
    assert deadline.segment_s(300) == pytest.approx(90)  # 300 x 0.2 x 1.5
    clock.now += 1000 - 89
    assert deadline.allows(deadline.any_segment_s())
    assert deadline.allows(deadline.segment_s(10))
    assert not deadline.allows(deadline.segment_s(300))


def test_a_passed_deadline_allows_nothing() -> None:
    clock = Clock()
    deadline = Deadline(clock.now - 5, budget_s=600, safety=1.5, clock=clock)  # the model took longer to load
    assert deadline.any_segment_s() == 0
    assert not deadline.allows(deadline.any_segment_s())


def _message(content: bytes | str, dequeue_count: int) -> QueueMessage:
    message = QueueMessage(content=content)
    message.dequeue_count = dequeue_count
    return message


def test_releases_are_counted_in_the_message_and_not_as_attempts() -> None:
    original = json.dumps({"job_id": "j", "index": 3}).encode()
    assert _released(original) == 0
    once = _with_release(original)
    twice = _with_release(once)
    assert isinstance(once, bytes)  # the type it came in: the queue's binary encode policy
    assert json.loads(twice) == {"job_id": "j", "index": 3, "released": 2}
    assert _attempt(_message(original, dequeue_count=2)) == 2
    assert _attempt(_message(twice, dequeue_count=3)) == 1  # two releases, then this receive: the first attempt
    assert _attempt(_message(b"not json", dequeue_count=2)) == 2
    assert _with_release(original.decode()) == once.decode()


def _args(argv: list[str]) -> argparse.Namespace:
    """The flags over the environment as it is now (a process reads its settings once, and keeps them)."""
    return parse_args(argv, load_worker_settings())


def test_deadline_and_budget_come_from_the_environment_or_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (_args([]).deadline, _args([]).segment_budget) == (0, 600)
    monkeypatch.setenv("TRANSCRIBE_DEADLINE_S", "3480")
    monkeypatch.setenv("TRANSCRIBE_SEGMENT_BUDGET_S", "900")
    assert (_args([]).deadline, _args([]).segment_budget) == (3480, 900)
    assert _args(["--deadline", "60", "--segment-budget", "30"]).deadline == 60
    monkeypatch.setenv("TRANSCRIBE_DEADLINE_S", "")  # set but empty, as a template may leave it: no deadline
    assert _args([]).deadline == 0


def test_the_release_count_is_a_field_of_the_segment_job_contract() -> None:
    """The worker rewrites the key in a message it puts back; the contract owns the message's shape."""
    from shared.contracts import SegmentJob
    from worker.segment_worker import RELEASED

    assert RELEASED in SegmentJob.model_fields
