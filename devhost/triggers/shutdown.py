"""The common way a polling trigger listener stops: no new work, then a grace period for running invocations."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures


def drain(
    stop: threading.Event,
    poller: threading.Thread | None,
    lock: threading.Lock,
    futures: set[Future[None]],
    pool: ThreadPoolExecutor,
    grace_s: float,
) -> None:
    """Stop the poller, give running invocations ``grace_s``, and cancel the ones that never started."""
    stop.set()
    if poller is not None:
        poller.join(timeout=grace_s)
    with lock:
        pending = set(futures)
    wait_futures(pending, timeout=grace_s)
    pool.shutdown(wait=False, cancel_futures=True)
