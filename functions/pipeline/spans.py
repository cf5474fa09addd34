"""``@traced_activity``: each activity run is a span under the orchestration (or the segment wait) of its job.

The parent comes from the activity's input, which the orchestrator filled from the trace context it carries:
``traceparent`` when the input has one, else the orchestration span's context in the job's ``trace``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from shared.telemetry import tracing
from shared.telemetry.names import Attr, Span

Result = TypeVar("Result")


def _job(payload: dict[str, Any]) -> dict[str, Any]:
    inner = payload.get("job")
    return inner if isinstance(inner, dict) else payload


def _parent(payload: dict[str, Any]) -> str | None:
    if payload.get("traceparent"):
        return str(payload["traceparent"])
    return (_job(payload).get("trace") or {}).get("orchestration")


def _job_id(payload: dict[str, Any]) -> str | None:
    return payload.get("job_id") or _job(payload).get("job_id")


def traced_activity(activity: Callable[..., Result]) -> Callable[..., Result]:
    """Wrap an activity (its one input passed by keyword, as the Functions worker does, or by position)."""
    name = Span.activity(activity.__name__)

    @functools.wraps(activity)
    def wrapper(*args: Any, **kwargs: Any) -> Result:
        payload = next(iter(kwargs.values())) if kwargs else args[0]
        payload = payload if isinstance(payload, dict) else {}
        with tracing.span(name, _parent(payload), {Attr.JOB_ID: _job_id(payload)}):
            return activity(*args, **kwargs)

    return wrapper
