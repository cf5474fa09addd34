"""The service's metrics, recorded where the event happens exactly once.

Job counts and turnaround are recorded by the activity that moves the job record into a final state, and only
when that update really changed it (activities run at least once; a retried one finds the state already final).
Segment figures are recorded by the worker that transcribed the segment. Instruments are created on first use
from the process's meter (a no-op meter when telemetry is off). Names and labels: ``shared/telemetry/names.py``.
"""

from __future__ import annotations

import threading
from pathlib import PurePosixPath
from typing import Any

from shared.audio_types import FORMATS
from shared.telemetry import setup as telemetry
from shared.telemetry.names import Attr, Metric

_lock = threading.Lock()
_instruments: dict[str, Any] = {}

_UNITS = {
    Metric.AUDIO_SECONDS: "s",
    Metric.TURNAROUND: "s",
    Metric.QUEUE_WAIT: "s",
    Metric.WORKER_BUSY: "s",
    Metric.WORKER_REPLICA: "s",
    Metric.UPLOAD_BYTES: "By",
    Metric.BACKLOG: "{message}",
}
_HISTOGRAMS = {Metric.TURNAROUND, Metric.JOB_RTFX, Metric.SEGMENT_RTFX, Metric.QUEUE_WAIT, Metric.BACKLOG}
_UP_DOWN = {Metric.JOBS_ACTIVE}


def _instrument(name: str) -> Any:
    with _lock:
        found = _instruments.get(name)
        if found is None:
            meter, unit = telemetry.meter(), _UNITS.get(name, "1")
            if name in _HISTOGRAMS:
                found = meter.create_histogram(name, unit=unit)
            elif name in _UP_DOWN:
                found = meter.create_up_down_counter(name, unit=unit)
            else:
                found = meter.create_counter(name, unit=unit)
            _instruments[name] = found
        return found


def _add(name: str, amount: float, **labels: Any) -> None:
    _instrument(name).add(amount, attributes=labels or None)


def _record(name: str, value: float, **labels: Any) -> None:
    _instrument(name).record(value, attributes=labels or None)


def audio_format(filename: str) -> str:
    """A bounded label: the file's extension when it is a format we accept, else ``other``."""
    extension = PurePosixPath(filename).suffix.lower().lstrip(".")
    return extension if extension in FORMATS else "other"


def job_started(filename: str, size_bytes: int) -> None:
    fmt = audio_format(filename)
    _add(Metric.JOBS_STARTED, 1, **{Attr.FORMAT: fmt})
    _add(Metric.UPLOAD_BYTES, size_bytes, **{Attr.FORMAT: fmt})
    _add(Metric.JOBS_ACTIVE, 1)


def job_finished(
    filename: str, status: str, error_code: str | None, turnaround_s: float, audio_s: float, active: bool = True
) -> None:
    """``active``: the job had been started (committed); a session canceled before its upload never was."""
    fmt = audio_format(filename)
    if status == "completed":
        _add(Metric.JOBS_COMPLETED, 1, **{Attr.FORMAT: fmt})
        if turnaround_s > 0 and audio_s > 0:
            _record(Metric.JOB_RTFX, audio_s / turnaround_s, **{Attr.FORMAT: fmt})
    elif status == "failed":
        _add(Metric.JOBS_FAILED, 1, **{Attr.FORMAT: fmt, Attr.ERROR_CODE: error_code or "transcription_failed"})
    if active:
        _record(Metric.TURNAROUND, max(turnaround_s, 0.0), **{Attr.FORMAT: fmt, Attr.STATUS: status})
        _add(Metric.JOBS_ACTIVE, -1)


def segment_transcribed(model: str, device: str, compute_type: str, audio_s: float, inference_s: float) -> None:
    _add(Metric.AUDIO_SECONDS, audio_s, **{Attr.MODEL: model, Attr.DEVICE: device})
    if inference_s > 0:
        labels = {Attr.MODEL: model, Attr.DEVICE: device, Attr.COMPUTE_TYPE: compute_type}
        _record(Metric.SEGMENT_RTFX, audio_s / inference_s, **labels)


def worker_busy(device: str, model: str, seconds: float) -> None:
    _add(Metric.WORKER_BUSY, max(seconds, 0.0), **{Attr.DEVICE: device, Attr.MODEL: model})


def worker_lifetime(device: str, seconds: float) -> None:
    _add(Metric.WORKER_REPLICA, max(seconds, 0.0), **{Attr.DEVICE: device})


def segment_failed(error_code: str) -> None:
    _add(Metric.SEGMENTS_FAILED, 1, **{Attr.ERROR_CODE: error_code})


def segment_poisoned() -> None:
    _add(Metric.SEGMENTS_POISONED, 1)


def queue_wait(seconds: float, attempt: int) -> None:
    _record(Metric.QUEUE_WAIT, max(seconds, 0.0), **{Attr.ATTEMPT: attempt})


def backlog(messages: int) -> None:
    _record(Metric.BACKLOG, messages)
