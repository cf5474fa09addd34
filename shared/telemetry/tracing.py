"""The spans of a job's one trace, and the W3C trace context that joins them across processes.

The context travels as a ``traceparent`` string (W3C Trace Context, https://www.w3.org/TR/trace-context/):
in the job record (from ``POST /api/uploads``), in the orchestration input, in each segment message and in each
segment report. Spans that outlive one process or one orchestrator episode (the job, the orchestration, the
wait for segments) get ids chosen up front and are written once, at the end, by :func:`emit_span`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.telemetry import setup as telemetry
from shared.telemetry.names import Attr

_PROPAGATOR = TraceContextTextMapPropagator()
SERVER, CONSUMER, CLIENT, INTERNAL = SpanKind.SERVER, SpanKind.CONSUMER, SpanKind.CLIENT, SpanKind.INTERNAL


def parse(traceparent: str | None) -> tuple[int, int] | None:
    """(trace id, span id) of a well-formed ``traceparent``, else None (a caller's garbage is ignored)."""
    if not traceparent:
        return None
    span = trace.get_current_span(_PROPAGATOR.extract({"traceparent": traceparent}))
    ids = span.get_span_context()
    return (ids.trace_id, ids.span_id) if ids.is_valid else None


def new_traceparent(parent: str | None = None) -> str:
    """A context for a span to be written later: the parent's trace (or a new one) and a fresh span id."""
    found = parse(parent)
    trace_id = found[0] if found else secrets.randbits(128) or 1
    return f"00-{trace_id:032x}-{secrets.randbits(64) or 1:016x}-01"


def current_traceparent() -> str | None:
    """The active span's context, to put in a message or an orchestration input."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def _context(parent: str | None) -> otel_context.Context:
    """The parent's context, or an empty one: a span with no known parent starts a trace of its own."""
    if parse(parent) is None:
        return otel_context.Context()
    return _PROPAGATOR.extract({"traceparent": parent or ""})


def _attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@contextmanager
def span(
    name: str, parent: str | None, attributes: Mapping[str, Any] | None = None, kind: SpanKind = INTERNAL
) -> Iterator[Span]:
    """A span whose parent is the ``traceparent`` carried in a message or input (exceptions recorded)."""
    with (
        telemetry.tracer().start_as_current_span(
            name, context=_context(parent), kind=kind, attributes=_attributes(attributes or {})
        ) as current,
        _log_scope(attributes or {}),
    ):
        try:
            yield current
        except Exception as exc:
            code = getattr(getattr(exc, "code", None), "slug", None)  # shared.errors' stable codes
            if isinstance(code, str):
                current.set_attribute(Attr.ERROR_CODE, code)
            raise


@contextmanager
def child(name: str, attributes: Mapping[str, Any] | None = None, kind: SpanKind = INTERNAL) -> Iterator[Span]:
    """A span under the active one; outside any traced work it is nothing (no stray root spans)."""
    if not trace.get_current_span().is_recording():
        with nullcontext(trace.INVALID_SPAN) as nothing:
            yield nothing
        return
    with telemetry.tracer().start_as_current_span(name, kind=kind, attributes=_attributes(attributes or {})) as current:
        yield current


def emit_span(
    name: str,
    own: str,
    parent: str | None,
    start: datetime,
    end: datetime,
    attributes: Mapping[str, Any] | None = None,
    error_code: str | None = None,
    kind: SpanKind = INTERNAL,
) -> None:
    """Write a finished span with the ids in ``own`` (chosen up front) and recorded start and end times."""
    ids = parse(own)
    if ids is None:
        return
    from shared.telemetry.fixed_ids import next_span_ids

    with next_span_ids(*ids):
        done = telemetry.tracer().start_span(
            name, context=_context(parent), kind=kind, attributes=_attributes(attributes or {}), start_time=_ns(start)
        )
    if error_code:
        done.set_attribute(Attr.ERROR_CODE, error_code)
        done.set_status(Status(StatusCode.ERROR, error_code))
    done.end(end_time=max(_ns(end), _ns(start)))


def interval(
    name: str, parent: str | None, start: datetime, end: datetime, attributes: Mapping[str, Any] | None = None
) -> None:
    """A span for something that happened between two known moments (a message's wait in its queue)."""
    done = telemetry.tracer().start_span(
        name, context=_context(parent), attributes=_attributes(attributes or {}), start_time=_ns(start)
    )
    done.end(end_time=max(_ns(end), _ns(start)))


def fail(current: Span, code: str, message: str | None = None) -> None:
    """Mark a span failed with the service's stable error code."""
    current.set_attribute(Attr.ERROR_CODE, code)
    current.set_status(Status(StatusCode.ERROR, message or code))


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1e9)


def _log_scope(attributes: Mapping[str, Any]) -> Any:
    """Log lines written inside a job's span carry its job id and segment (``shared.telemetry.logs``)."""
    job_id = attributes.get(Attr.JOB_ID)
    if not job_id:
        return nullcontext()
    from shared.telemetry.logs import log_context

    return log_context(job_id=str(job_id), segment=attributes.get(Attr.SEGMENT_INDEX))
