"""A shared byte-rate cap, so a big upload can be kept from saturating an office link."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, bytes_per_second: float | None) -> None:
        self._rate = bytes_per_second
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def consume(self, nbytes: int) -> None:
        if not self._rate:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + nbytes / self._rate
        if start > now:
            time.sleep(start - now)
