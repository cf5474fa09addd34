"""Progress of a transcription as customers see it (custom status), computed from orchestration facts only.

Pure and deterministic: the orchestrator calls it during replay, so it may only use the times and counts the
orchestration itself recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.contracts import Window


def progress(
    stage: str, windows: list[Window], done: set[int], started: datetime, now: datetime, duration_s: float
) -> dict[str, Any]:
    audio_done = sum(w.keep_end_s - w.keep_start_s for w in windows if w.index in done)
    elapsed = max((now - started).total_seconds(), 0.0)
    eta = elapsed * (duration_s - audio_done) / audio_done if audio_done > 0 else None
    return {
        "stage": stage,
        "segments_done": len(done),
        "segments_total": len(windows),
        "audio_seconds_done": round(audio_done, 2),
        "audio_seconds_total": round(duration_s, 2),
        "percent": round(100.0 * audio_done / duration_s, 1) if duration_s > 0 else 0.0,
        "eta_s": round(eta, 1) if eta is not None else None,
    }
