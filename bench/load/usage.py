"""CPU time and peak memory of each part of the stack while the load runs, as ``bench/scale.py`` counts them.

Groups: the host (with its children), the workers, Azurite (with its children) and the load generator itself
(this process: on a 2-core machine it competes with what it measures, so its share is reported too). CPU is user +
system seconds over a phase; RSS is the group's summed resident memory, sampled twice a second, at its peak.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import psutil

from devhost.stack import LocalStack


class Usage:
    def __init__(self, stack: LocalStack) -> None:
        host = psutil.Process(stack.devhost.pid) if stack.devhost and stack.devhost.pid else None
        azurite = psutil.Process(stack.azurite.process.pid)
        self.groups: dict[str, list[psutil.Process]] = {
            "host": [host, *host.children(recursive=True)] if host else [],
            "workers": [psutil.Process(w.pid) for w in stack.workers if w.pid],
            "azurite": [azurite, *azurite.children(recursive=True)],
            "load": [psutil.Process(os.getpid())],
        }
        self.peak_rss = dict.fromkeys(self.groups, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def cpu_s(self) -> dict[str, float]:
        return {name: sum(_cpu(p) for p in group) for name, group in self.groups.items()}

    def spent(self, before: dict[str, float]) -> dict[str, float]:
        """CPU seconds of each group since ``before`` (a :meth:`cpu_s`)."""
        return {name: round(seconds - before[name], 1) for name, seconds in self.cpu_s().items()}

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            for name, group in self.groups.items():
                self.peak_rss[name] = max(self.peak_rss[name], sum(_rss(p) for p in group))

    def __enter__(self) -> Usage:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self, before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
        return {
            name: {
                "cpu_s": round(after[name] - before[name], 1),
                "peak_rss_mib": round(self.peak_rss[name] / 2**20, 1),
                "processes": len(self.groups[name]),
            }
            for name in self.groups
        }


def _cpu(process: psutil.Process) -> float:
    try:
        return float(sum(process.cpu_times()[:4]))  # user, system, children's user and system
    except psutil.Error:
        return 0.0


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.Error:
        return 0
