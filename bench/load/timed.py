"""Every request the load makes, timed and judged: latency per operation, and each answer the run did not expect.

The load's verdict rests on this: an operation's answer is expected only if it is one of the statuses listed for
it (``EXPECTED``); a 5xx, an unexpected 4xx or a transport error (timeout, reset) is an error, kept with its body's
first bytes so that the report says what went wrong, and any error fails the run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

EXPECTED: dict[str, frozenset[int]] = {
    "create_upload": frozenset({201}),
    "get_upload": frozenset({200}),
    "put_block": frozenset({201}),  # Put Block and Put Block List: 201 Created (Azure Blob REST reference)
    "commit": frozenset({201}),
    "get_job": frozenset({200, 202}),  # 202 while it runs (Retry-After), 200 when completed
    "list_jobs": frozenset({200}),
    "transcript": frozenset({200}),
}
API_OPERATIONS = ("create_upload", "get_upload", "get_job", "list_jobs", "transcript")


@dataclass
class Recorder:
    """Latencies (seconds) and statuses per phase and operation, and the unexpected answers.

    ``phase`` names what the load is doing now (``uploads``, ``jobs``, ``audit``): each request is counted under
    the phase it was sent in, so the figures of 100 concurrent sessions and of 200 concurrent jobs stay apart.
    """

    phase: str = "start"
    latencies: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    statuses: dict[tuple[str, str], dict[int, int]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def record(self, op: str, seconds: float, status: int, detail: str = "") -> None:
        key = (self.phase, op)
        self.latencies.setdefault(key, []).append(seconds)
        counts = self.statuses.setdefault(key, {})
        counts[status] = counts.get(status, 0) + 1
        if status not in EXPECTED[op]:
            self.errors.append({"phase": self.phase, "op": op, "status": status, "detail": detail[:300]})

    def requests(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    def summary(self) -> dict[str, Any]:
        """Per operation (all phases together, then each phase): count, p50 / p99 / max in milliseconds and the
        statuses; the API's operations apart from storage's (blocks and commits go to Azurite through the SAS).
        Then the error rate over every request."""
        total = self.requests()
        return {
            "api": self._table(API_OPERATIONS),
            "storage": self._table(("put_block", "commit")),
            "by_phase": {
                phase: self._table(tuple(op for p, op in self.latencies if p == phase), phase)
                for phase in dict.fromkeys(p for p, _ in self.latencies)
            },
            "requests": total,
            "errors": len(self.errors),
            "error_rate": round(len(self.errors) / total, 6) if total else 0.0,
            "first_errors": self.errors[:10],
        }

    def _table(self, ops: tuple[str, ...], phase: str | None = None) -> dict[str, Any]:
        table = {}
        for op in ops:
            keys = [k for k in self.latencies if k[1] == op and phase in (None, k[0])]
            if not keys:
                continue
            statuses: dict[int, int] = {}
            for key in keys:
                for code, n in self.statuses[key].items():
                    statuses[code] = statuses.get(code, 0) + n
            figures = _percentiles([x for key in keys for x in self.latencies[key]])
            table[op] = {**figures, "statuses": {str(code): n for code, n in sorted(statuses.items())}}
        return table


def _percentiles(values: list[float]) -> dict[str, Any]:
    """Nearest-rank percentiles: p99 of 100 values is the 99th smallest, not the largest."""
    ordered = sorted(values)

    def at(p: float) -> float:
        return round(1000 * ordered[max(0, math.ceil(p * len(ordered)) - 1)], 1)

    return {"count": len(ordered), "p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": round(1000 * ordered[-1], 1)}


TRANSPORT_ERROR = 599  # not an HTTP status: the request got no answer (timeout, connection reset)


async def timed(
    recorder: Recorder, op: str, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> httpx.Response | None:
    """One request, recorded; ``None`` when it got no answer (recorded as an error, never retried: a retry would
    hide exactly what the load is looking for)."""
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        recorder.record(op, time.perf_counter() - started, TRANSPORT_ERROR, f"{type(exc).__name__}: {exc}")
        return None
    elapsed = time.perf_counter() - started
    detail = "" if response.status_code in EXPECTED[op] else response.text
    recorder.record(op, elapsed, response.status_code, detail)
    return response
