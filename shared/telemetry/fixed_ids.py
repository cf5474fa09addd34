"""An OpenTelemetry id generator that can be told the ids of the next span.

Why: a Durable orchestration runs as many short episodes, replayed from history, so a span for the whole
orchestration (or the whole job) cannot be a live object started in one episode and ended in another. Its ids
are chosen up front instead (when the job is created, carried in the orchestration input), children use them as
their parent, and the span itself is written once, when the job ends, with those same ids and the recorded start
and end times (``shared.telemetry.tracing.emit_span``). Everything else gets the wrapped generator's random ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry.sdk.trace.id_generator import IdGenerator

_forced: ContextVar[tuple[int, int] | None] = ContextVar("forced_span_ids", default=None)


class FixedIdGenerator(IdGenerator):
    def __init__(self, inner: IdGenerator) -> None:
        self.inner = inner

    def generate_span_id(self) -> int:
        forced = _forced.get()
        return forced[1] if forced else self.inner.generate_span_id()

    def generate_trace_id(self) -> int:
        forced = _forced.get()
        return forced[0] if forced else self.inner.generate_trace_id()


@contextmanager
def next_span_ids(trace_id: int, span_id: int) -> Iterator[None]:
    """Spans started inside this block get these ids (start exactly one)."""
    token = _forced.set((trace_id, span_id))
    try:
        yield
    finally:
        _forced.reset(token)
