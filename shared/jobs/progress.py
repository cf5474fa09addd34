"""Progress of a transcription as customers see it, from counts the orchestrations record.

Pure and deterministic: orchestrators call it during replay, so it may only use the times and counts the
orchestration itself recorded. The job's own orchestration counts the segments of finished batches; the status
API adds what the batches still running report (``functions/api/jobs.py``) and calls this again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def progress(
    stage: str,
    done: int,
    total: int,
    audio_done: float,
    audio_total: float,
    started: datetime,
    now: datetime,
    **extra: Any,
) -> dict[str, Any]:
    elapsed = max((now - started).total_seconds(), 0.0)
    eta = elapsed * (audio_total - audio_done) / audio_done if audio_done > 0 else None
    return {
        "stage": stage,
        "segments_done": done,
        "segments_total": total,
        "audio_seconds_done": round(audio_done, 2),
        "audio_seconds_total": round(audio_total, 2),
        "percent": round(100.0 * audio_done / audio_total, 1) if audio_total > 0 else 0.0,
        "eta_s": round(max(eta, 0.0), 1) if eta is not None else None,
        **extra,
    }
