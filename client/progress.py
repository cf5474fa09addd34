"""A byte progress bar (bytes, rate, ETA) on stderr that several upload threads can feed."""

from __future__ import annotations

import sys
import threading
from types import TracebackType

from tqdm import tqdm


class ByteProgress:
    def __init__(self, total: int, initial: int, label: str, enabled: bool) -> None:
        self._lock = threading.Lock()
        self._bar = tqdm(
            total=total,
            initial=initial,
            desc=label,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=not enabled,
            file=sys.stderr,
            dynamic_ncols=True,
            smoothing=0.1,
        )

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self._bar.update(nbytes)

    def __enter__(self) -> ByteProgress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.close()
