"""Queue polling as the Durable extension's Azure Storage provider does it: back off while a queue is empty.

On Azure, orchestration messages (control queues) and activity messages (the work-item queue) are storage queues,
polled. While a queue stays empty the interval between polls doubles up to ``maxQueuePollingInterval`` (host.json
``extensions.durableTask.storageProvider``; 30 s by default, AzureStorageOptions.cs), and a message that arrives
meanwhile waits for the next poll. So an event raised into an orchestration that has been idle for a while is
noticed up to that interval later. This host's queues are in memory and could deliver at once; they wait as
Azure's would, so local latencies mean what they would on Azure.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T", bound=Hashable)

MIN_POLLING_INTERVAL_S = 0.1  # the first backoff step after a queue was found empty
AZURE_MAX_QUEUE_POLLING_INTERVAL_S = 30.0


class PolledQueue(Generic[T]):
    """A deduplicating FIFO read by pollers that back off exponentially while it is empty."""

    def __init__(self, max_interval_s: float, stopping: threading.Event) -> None:
        self.max_interval_s = max(max_interval_s, 0.0)
        self._items: deque[T] = deque()
        self._queued: set[T] = set()
        self._lock = threading.Lock()
        self._stopping = stopping
        self.delay_s = 0.0  # the wait after the next empty poll

    def add(self, item: T) -> None:
        with self._lock:
            if item not in self._queued:
                self._queued.add(item)
                self._items.append(item)

    def take(self) -> T | None:
        """One poll: the next item, or ``None`` after waiting out the current backoff."""
        with self._lock:
            if self._items:
                item = self._items.popleft()
                self._queued.discard(item)
                self.delay_s = 0.0
                return item
            delay = self.delay_s
            self.delay_s = min(max(self.delay_s * 2, MIN_POLLING_INTERVAL_S), self.max_interval_s)
        self._stopping.wait(delay)
        return None


def max_queue_polling_interval_s(host_json: dict[str, Any]) -> float:
    """``extensions.durableTask.storageProvider.maxQueuePollingInterval`` (a TimeSpan), else Azure's 30 s."""
    from devhost.triggers.config import parse_timespan

    provider = host_json.get("extensions", {}).get("durableTask", {}).get("storageProvider", {})
    value = provider.get("maxQueuePollingInterval")
    return AZURE_MAX_QUEUE_POLLING_INTERVAL_S if value is None else parse_timespan(value, 1.0)
