"""Span and metric exporters that append JSON lines to files: the one-machine stack's stand-in for App Insights.

One file per process and signal (``spans-<service>-<pid>.jsonl``, ``metrics-<service>-<pid>.jsonl``), so the
host and each worker never interleave writes; ``read_spans`` / ``read_metrics`` gather a folder back. The tests
read a job's whole trace from here, and ``scripts/transcribe --timings`` prints its stages from it. Metrics are
written with delta temporality, as the Azure Monitor exporter sends them: the sum of every line is the total.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter, UpDownCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

_DELTA: dict[type, AggregationTemporality] = {
    Counter: AggregationTemporality.DELTA,
    UpDownCounter: AggregationTemporality.DELTA,
    Histogram: AggregationTemporality.DELTA,
    ObservableCounter: AggregationTemporality.DELTA,
}


class _Appender:
    def __init__(self, path: Path) -> None:
        self.path, self._lock = path, threading.Lock()

    def write(self, lines: list[str]) -> None:
        if not lines:
            return
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in lines))


def span_record(span: ReadableSpan, service: str) -> dict[str, Any]:
    context, parent = span.context, span.parent
    return {
        "service": service,
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{context.trace_id:032x}" if context else None,
        "span_id": f"{context.span_id:016x}" if context else None,
        "parent_span_id": f"{parent.span_id:016x}" if parent else None,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "events": [e.name for e in span.events],
    }


class JsonLinesSpanExporter(SpanExporter):
    def __init__(self, folder: Path, service: str) -> None:
        self.service = service
        self._out = _Appender(folder / f"spans-{service}-{os.getpid()}.jsonl")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._out.write([json.dumps(span_record(s, self.service), default=str) for s in spans])
        return SpanExportResult.SUCCESS


class JsonLinesMetricExporter(MetricExporter):
    def __init__(self, folder: Path, service: str) -> None:
        super().__init__(preferred_temporality=_DELTA)
        self.service = service
        self._out = _Appender(folder / f"metrics-{service}-{os.getpid()}.jsonl")

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        lines = []
        for resource_metrics in metrics_data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    lines += [json.dumps(self._point(metric.name, p)) for p in metric.data.data_points]
        self._out.write(lines)
        return MetricExportResult.SUCCESS

    def _point(self, name: str, point: Any) -> dict[str, Any]:
        base = {"service": self.service, "name": name, "attributes": dict(point.attributes or {})}
        if isinstance(point, HistogramDataPoint):
            return {**base, "count": point.count, "sum": point.sum, "min": point.min, "max": point.max}
        assert isinstance(point, NumberDataPoint)
        return {**base, "value": point.value}

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def _read(folder: Path, pattern: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob(pattern)):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


def read_spans(folder: Path) -> list[dict[str, Any]]:
    return _read(folder, "spans-*.jsonl")


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    return _read(folder, "metrics-*.jsonl")
