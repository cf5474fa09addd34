"""The one-machine Durable engine's queues are polled like the Azure Storage provider's: backing off when empty."""

from __future__ import annotations

import threading
import time

from devhost.durable.polling import MIN_POLLING_INTERVAL_S, PolledQueue


def test_an_empty_queue_is_polled_ever_less_often_up_to_the_maximum() -> None:
    queue: PolledQueue[str] = PolledQueue(max_interval_s=0.8, stopping=threading.Event())
    delays = []
    for _ in range(6):
        delays.append(queue.delay_s)
        assert queue.take() is None
    assert delays == [0.0, MIN_POLLING_INTERVAL_S, 0.2, 0.4, 0.8, 0.8]


def test_an_item_is_seen_only_at_the_next_poll_and_resets_the_backoff() -> None:
    """What makes local latency honest: a message that arrives while the poller waits waits with it."""
    queue: PolledQueue[str] = PolledQueue(max_interval_s=0.4, stopping=threading.Event())
    for _ in range(4):
        queue.take()  # idle: the next wait is the maximum
    threading.Timer(0.05, queue.add, args=("instance-1",)).start()
    started = time.perf_counter()
    assert queue.take() is None  # polled during the 0.4 s wait: the item is not seen yet
    waited = time.perf_counter() - started
    assert queue.take() == "instance-1"
    assert waited >= 0.35 and queue.delay_s == 0.0


def test_items_are_deduplicated_and_kept_in_order() -> None:
    queue: PolledQueue[str] = PolledQueue(max_interval_s=0.1, stopping=threading.Event())
    for item in ("a", "b", "a", "c"):
        queue.add(item)
    assert [queue.take(), queue.take(), queue.take()] == ["a", "b", "c"]


def test_stopping_ends_a_wait_at_once() -> None:
    stopping = threading.Event()
    queue: PolledQueue[str] = PolledQueue(max_interval_s=30.0, stopping=stopping)
    queue.delay_s = 30.0
    threading.Timer(0.05, stopping.set).start()
    started = time.perf_counter()
    queue.take()
    assert time.perf_counter() - started < 1.0
