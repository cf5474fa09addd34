"""Every request the load makes, timed and judged: latency per operation, and each answer the run did not expect.

The load's verdict rests on this: an operation's answer is expected only if it is one of the statuses listed for
it (``EXPECTED``); a 5xx, an unexpected 4xx or a transport error (timeout, reset) is an error, kept with its body's
first bytes so that the report says what went wrong, and any error fails the run.
"""

from __future__ import annotations

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
    """Latencies (seconds) per operation, the statuses seen, and the unexpected answers."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def record(self, op: str, seconds: float, status: int, detail: str = "") -> None:
        self.latencies.setdefault(op, []).append(seconds)
        counts = self.statuses.setdefault(op, {})
        counts[status] = counts.get(status, 0) + 1
        if status not in EXPECTED[op]:
            self.errors.append({"op": op, "status": status, "detail": detail[:300]})

    def requests(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    def summary(self) -> dict[str, Any]:
        """p50 / p99 / max in milliseconds and the count, per operation, and the error rate over all requests."""
        ops = {op: _percentiles(values) for op, values in sorted(self.latencies.items())}
        for op, counts in self.statuses.items():
            ops[op]["statuses"] = {str(code): n for code, n in sorted(counts.items())}
        total = self.requests()
        return {
            "operations": ops,
            "requests": total,
            "errors": len(self.errors),
            "error_rate": round(len(self.errors) / total, 6) if total else 0.0,
            "first_errors": self.errors[:10],
        }


def _percentiles(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)

    def at(p: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)

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
