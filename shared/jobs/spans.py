"""The spans an orchestration writes once, when its job ends: the job, the orchestration, the segment wait.

An orchestrator function runs again from the top on every episode (replay), so it cannot hold a span open. The
spans' ids were chosen before the orchestration started (``functions/pipeline/ingest.py``: ``job_trace``) or come from
``context.new_uuid()`` (deterministic across replays), their times from ``context.current_utc_datetime``, and
they are written only when ``context.is_replaying`` is false: once per job. (A host that crashes after running
the final episode but before saving it runs that episode again, and writes them again, with the same ids.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import azure.durable_functions as df

from shared.jobs.records import JobRecord
from shared.telemetry import job_metrics, tracing
from shared.telemetry.job_metrics import audio_format
from shared.telemetry.names import Attr, Span

logger = logging.getLogger(__name__)


@dataclass
class SegmentsSpan:
    own: str | None
    start: datetime
    end: datetime | None = None
    count: int = 0


def segments_span(context: df.DurableOrchestrationContext, job: dict[str, Any]) -> SegmentsSpan:
    """Ids for the "transcribe segments" span, parent of the dispatches and so of every worker's span."""
    trace = job.get("trace") or {}
    found = tracing.parse(trace.get("job"))
    own = f"00-{found[0]:032x}-{str(context.new_uuid()).replace('-', '')[:16]}-01" if found else None
    return SegmentsSpan(own, context.current_utc_datetime)


def parent_for_activities(job: dict[str, Any]) -> str | None:
    return (job.get("trace") or {}).get("orchestration")


def job_ended(
    context: df.DurableOrchestrationContext,
    job: dict[str, Any],
    started: datetime,
    status: str,
    error_code: str | None = None,
    audio_s: float | None = None,
    segments: SegmentsSpan | None = None,
) -> None:
    """Write the job's long spans, once (never on replay); telemetry trouble never fails the job."""
    if context.is_replaying:
        return
    try:
        _write(context, job, started, status, error_code, audio_s, segments)
    except Exception:
        logger.warning("could not write the spans of job_id=%s", job.get("job_id"), exc_info=True)


def _write(
    context: df.DurableOrchestrationContext,
    job: dict[str, Any],
    started: datetime,
    status: str,
    error_code: str | None,
    audio_s: float | None,
    segments: SegmentsSpan | None,
) -> None:
    trace, now = job.get("trace") or {}, context.current_utc_datetime
    if not trace.get("job"):
        return
    attributes = {
        Attr.JOB_ID: job["job_id"],
        Attr.STATUS: status,
        Attr.MODEL: job.get("model"),
        Attr.AUDIO_S: audio_s,
        Attr.FORMAT: audio_format(job.get("filename", "")),
        Attr.SEGMENTS: segments.count if segments else None,
    }
    if segments and segments.own and segments.end:
        span_attributes = {Attr.JOB_ID: job["job_id"], Attr.SEGMENTS: segments.count}
        parent = trace.get("orchestration")
        tracing.emit_span(Span.SEGMENTS, segments.own, parent, segments.start, segments.end, span_attributes)
    tracing.emit_span(
        Span.ORCHESTRATION, trace["orchestration"], trace.get("ingest"), started, now, attributes, error_code
    )
    created = datetime.fromisoformat(trace["created_at"]) if trace.get("created_at") else started
    tracing.emit_span(Span.JOB, trace["job"], trace.get("caller"), created, now, attributes, error_code)


def job_canceled(record: JobRecord) -> None:
    """A cancel ends the job outside its orchestration (terminated, so it never writes the spans itself)."""
    committed = record.committed_at is not None  # only a committed job was counted as started
    turnaround = (record.updated_at - record.committed_at).total_seconds() if record.committed_at else 0.0
    job_metrics.job_finished(record.filename, "canceled", None, turnaround, 0.0, active=committed)
    if record.trace is None:
        return
    attributes = {Attr.JOB_ID: record.job_id, Attr.STATUS: "canceled", Attr.FORMAT: audio_format(record.filename)}
    started = record.trace.started_at or record.created_at
    tracing.emit_span(Span.JOB, record.trace.job, record.trace.caller, started, record.updated_at, attributes)
