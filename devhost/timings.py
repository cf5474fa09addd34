"""``scripts/transcribe --timings``: where a job's time went, from the same spans an operator sees.

The one-machine stack exports its spans to files (``TRANSCRIBE_TELEMETRY_DIR``); this reads one job's trace and
prints its stages. Stages that run once are wall time; the per-segment stages are summed over segments (they
overlap when several workers run), with the slowest single segment beside the sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.telemetry.names import Attr, Span


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float
    count: int = 1
    slowest_s: float | None = None  # per-segment stages: the longest single one


def _seconds(span: dict[str, Any]) -> float:
    return (span["end_ns"] - span["start_ns"]) / 1e9


def job_spans(spans: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
    """Every span of the job's trace (the trace of its one ``job`` span)."""
    roots = [s for s in spans if s["name"] == Span.JOB and s["attributes"].get(Attr.JOB_ID) == job_id]
    if not roots:
        return []
    return [s for s in spans if s["trace_id"] == roots[0]["trace_id"]]


def _sum(spans: list[dict[str, Any]], label: str, name: str) -> Stage | None:
    found = [s for s in spans if s["name"] == name]
    if not found:
        return None
    durations = [_seconds(s) for s in found]
    return Stage(label, sum(durations), len(found), max(durations) if len(found) > 1 else None)


def _gap(label: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> Stage | None:
    if before is None or after is None:
        return None
    return Stage(label, max(after["start_ns"] - before["end_ns"], 0) / 1e9)


def breakdown(spans: list[dict[str, Any]], job_id: str) -> list[Stage]:
    """The job's stages in the order they happen; the last row is the whole job."""
    mine = job_spans(spans, job_id)
    first = {s["name"]: s for s in sorted(mine, key=lambda s: s["start_ns"], reverse=True)}
    candidates = [
        _sum(mine, "upload session (POST /api/uploads)", Span.UPLOAD_CREATE),
        _gap("upload of the bytes (client)", first.get(Span.UPLOAD_CREATE), first.get(Span.INGEST)),
        _sum(mine, "ingest (blob trigger)", Span.INGEST),
        _gap("orchestration start", first.get(Span.INGEST), first.get(Span.ORCHESTRATION)),
        _sum(mine, "probe", Span.activity("probe_audio")),
        _sum(mine, "segments, wall", Span.SEGMENTS),
        _sum(mine, "  queue wait", Span.SEGMENT_QUEUE_WAIT),
        _sum(mine, "  read + decode", Span.SEGMENT_DECODE),
        _sum(mine, "    of which range reads", Span.BLOB_RANGE_READ),
        _sum(mine, "  inference", Span.SEGMENT_INFERENCE),
        _sum(mine, "  write result", Span.SEGMENT_WRITE),
        _sum(mine, "  report to orchestration", Span.SEGMENT_REPORT),
        _sum(mine, "merge", Span.activity("merge_transcript")),
        _sum(mine, "job status updates", Span.activity("set_job_status")),
        _sum(mine, "webhook", Span.activity("deliver_webhook")),
        _sum(mine, "job, end to end", Span.JOB),
    ]
    return [stage for stage in candidates if stage is not None]


def render(stages: list[Stage]) -> str:
    total = stages[-1].seconds if stages else 0.0
    lines = [f"{'stage':<40} {'seconds':>9} {'share':>6} {'count':>5} {'slowest':>8}"]
    for stage in stages:
        share = f"{100 * stage.seconds / total:5.1f}%" if total > 0 else "     -"
        slowest = f"{stage.slowest_s:8.2f}" if stage.slowest_s is not None else " " * 8
        lines.append(f"{stage.name:<40} {stage.seconds:9.2f} {share:>6} {stage.count:5d} {slowest}")
    lines.append("per-segment stages are summed over segments; several workers overlap them")
    return "\n".join(lines)
