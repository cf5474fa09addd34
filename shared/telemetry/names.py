"""Every span, metric and attribute name the service emits: one place, so dashboards and alerts can be checked.

The operations workbook and the alert rules in Bicep query these names in Application Insights
(``requests``/``dependencies`` for spans, ``customMetrics`` for metrics, ``customDimensions`` for attributes);
``tests/unit/test_workbook.py`` fails if a query names something that is not listed here, and the telemetry
tests fail if the code emits a name that is not. Renaming a metric therefore means changing this module, the
workbook and the alerts together, which is the point.

Where the names land (Azure Monitor exporter mapping, learn:/azure/azure-monitor/app/opentelemetry-add-modify):
SERVER and CONSUMER spans become ``requests`` rows, INTERNAL, CLIENT and PRODUCER spans ``dependencies`` rows;
``operation_Id`` is the trace id, ``id`` the span id, ``operation_ParentId`` the parent span id; metrics become
``customMetrics`` rows (``name``, ``value``, ``valueCount``, ``valueSum``, ``valueMin``, ``valueMax``) with their
attributes in ``customDimensions``.
"""

from __future__ import annotations

from typing import Final

# The instrumentation scope of every tracer and meter the service creates.
SCOPE: Final = "transcription"

# Service names (the OpenTelemetry resource's service.name; App Insights' cloud_RoleName).
SERVICE_FUNCTIONS: Final = "transcription-functions"
SERVICE_WORKER: Final = "transcription-worker"
SERVICE_DEVHOST: Final = "transcription-devhost"


class Span:
    """Span names. One trace per job: the job span is its root (unless the uploader sent a traceparent)."""

    JOB: Final = "job"  # the whole job, upload session to last transcript; emitted once when the job ends
    UPLOAD_CREATE: Final = "POST /api/uploads"
    INGEST: Final = "ingest"  # the blob trigger that checks a committed upload and starts the orchestration
    ORCHESTRATION: Final = "orchestration transcription"  # emitted once, when the orchestration ends
    SEGMENTS: Final = "transcribe segments"  # from the first dispatch to the last segment report
    ACTIVITY_PREFIX: Final = "activity "  # + the activity's name: probe_audio, dispatch_segments, ...
    SEGMENT: Final = "segment"  # one worker's handling of one segment message
    SEGMENT_QUEUE_WAIT: Final = "segment queue wait"  # from enqueue to the worker taking the message
    SEGMENT_DECODE: Final = "segment decode"  # range reads of the window's bytes and their decoding
    BLOB_RANGE_READ: Final = "blob range read"  # one ranged GET of the source blob
    SEGMENT_INFERENCE: Final = "segment inference"  # faster-whisper on the decoded window
    SEGMENT_WRITE: Final = "segment write result"
    SEGMENT_REPORT: Final = "segment report"  # the segment-results trigger raising the orchestration's event
    WEBHOOK: Final = "webhook"  # one delivery attempt (an HTTP client span inside deliver_webhook)

    @staticmethod
    def activity(name: str) -> str:
        return f"{Span.ACTIVITY_PREFIX}{name}"


ACTIVITIES: Final = (
    "set_job_status",
    "probe_audio",
    "dispatch_segments",
    "merge_transcript",
    "deliver_webhook",
    "clean_up_batches",
)


class Attr:
    """Span and metric attribute names (``customDimensions`` keys in Application Insights)."""

    JOB_ID: Final = "transcription.job_id"
    SEGMENT_INDEX: Final = "transcription.segment_index"
    SEGMENTS: Final = "transcription.segments"
    AUDIO_S: Final = "transcription.audio_s"
    MODEL: Final = "transcription.model"
    DEVICE: Final = "transcription.device"
    COMPUTE_TYPE: Final = "transcription.compute_type"
    ATTEMPT: Final = "transcription.attempt"
    FORMAT: Final = "transcription.format"
    STATUS: Final = "transcription.status"
    ERROR_CODE: Final = "transcription.error_code"
    WORKER_ID: Final = "transcription.worker_id"
    BYTES: Final = "transcription.bytes"
    READ_S: Final = "transcription.read_s"
    RTFX: Final = "transcription.rtfx"
    WEBHOOK_KIND: Final = "transcription.webhook_kind"
    HTTP_STATUS: Final = "http.response.status_code"


class Metric:
    """Metric names (``customMetrics.name``), with the attributes each one carries."""

    JOBS_STARTED: Final = "transcription.jobs.started"  # counter {format}
    JOBS_COMPLETED: Final = "transcription.jobs.completed"  # counter {format}
    JOBS_FAILED: Final = "transcription.jobs.failed"  # counter {format, error_code}
    JOBS_ACTIVE: Final = "transcription.jobs.active"  # up-down counter: +1 when started, -1 when finished
    AUDIO_SECONDS: Final = "transcription.audio.seconds"  # counter, per segment transcribed {model, device}
    TURNAROUND: Final = "transcription.job.turnaround"  # histogram, s, commit to final state {format, status}
    JOB_RTFX: Final = "transcription.job.rtfx"  # histogram, audio s per turnaround s {format}
    SEGMENT_RTFX: Final = (
        "transcription.segment.rtfx"  # histogram, audio s per inference s {model, device, compute_type}
    )
    QUEUE_WAIT: Final = "transcription.segment.queue_wait"  # histogram, s, enqueue to worker pick-up {attempt}
    SEGMENTS_FAILED: Final = "transcription.segments.failed"  # counter {error_code}
    SEGMENTS_POISONED: Final = "transcription.segments.poisoned"  # counter: messages given up after max dequeues
    BACKLOG: Final = "transcription.segments.backlog"  # histogram, messages waiting, sampled at dispatch and pick-up
    UPLOAD_BYTES: Final = "transcription.upload.bytes"  # counter, committed upload bytes {format}
    WORKER_BUSY: Final = "transcription.worker.busy_seconds"  # counter, s per segment {device, model}: GPU cost
    WORKER_REPLICA: Final = "transcription.worker.replica_seconds"  # counter, s a worker process lived {device}


METRIC_ATTRIBUTES: Final[dict[str, frozenset[str]]] = {
    Metric.JOBS_STARTED: frozenset({Attr.FORMAT}),
    Metric.JOBS_COMPLETED: frozenset({Attr.FORMAT}),
    Metric.JOBS_FAILED: frozenset({Attr.FORMAT, Attr.ERROR_CODE}),
    Metric.JOBS_ACTIVE: frozenset(),
    Metric.AUDIO_SECONDS: frozenset({Attr.MODEL, Attr.DEVICE}),
    Metric.TURNAROUND: frozenset({Attr.FORMAT, Attr.STATUS}),
    Metric.JOB_RTFX: frozenset({Attr.FORMAT}),
    Metric.SEGMENT_RTFX: frozenset({Attr.MODEL, Attr.DEVICE, Attr.COMPUTE_TYPE}),
    Metric.QUEUE_WAIT: frozenset({Attr.ATTEMPT}),
    Metric.SEGMENTS_FAILED: frozenset({Attr.ERROR_CODE}),
    Metric.SEGMENTS_POISONED: frozenset(),
    Metric.BACKLOG: frozenset(),
    Metric.UPLOAD_BYTES: frozenset({Attr.FORMAT}),
    Metric.WORKER_BUSY: frozenset({Attr.DEVICE, Attr.MODEL}),
    Metric.WORKER_REPLICA: frozenset({Attr.DEVICE}),
}


def span_names() -> frozenset[str]:
    fixed = {v for k, v in vars(Span).items() if k.isupper() and isinstance(v, str) and k != "ACTIVITY_PREFIX"}
    return frozenset(fixed | {Span.activity(a) for a in ACTIVITIES})


def attribute_names() -> frozenset[str]:
    return frozenset(v for k, v in vars(Attr).items() if k.isupper() and isinstance(v, str))


def metric_names() -> frozenset[str]:
    return frozenset(METRIC_ATTRIBUTES)
