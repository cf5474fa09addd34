"""The job's span and metrics when a cancel ends it: the API ends it outside its orchestration, which is terminated
and never writes them (the orchestration's own spans: ``functions/pipeline/job_spans.py``)."""

from __future__ import annotations

from shared.jobs.records import JobRecord
from shared.telemetry import job_metrics, tracing
from shared.telemetry.job_metrics import audio_format
from shared.telemetry.names import Attr, Span


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
