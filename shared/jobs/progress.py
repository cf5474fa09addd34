"""Progress of a transcription as customers see it, from counts the orchestrations record.

Pure and deterministic: orchestrators call it during replay, so it may only use the times and counts the
orchestration itself recorded. The job's own orchestration counts the segments of finished batches; the status
API adds what the batches still running report (``functions/api/jobs.py``) and calls this again.

The languages heard travel the same way: each worker reports the seconds of its window's speech per language
(``SegmentDone.languages``), its batch sums its finished segments, the job's orchestration its finished batches,
and the status API adds the running batches'. Only Whisper's codes are counted, so every count has at most one
entry per language Whisper knows (~100), whatever a report holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.languages import WHISPER_LANGUAGES
from shared.transcripts.languages import add_seconds, summary

_KNOWN = frozenset(WHISPER_LANGUAGES)


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


def add_heard(total: dict[str, float], more: Mapping[str, Any] | None) -> None:
    """``more``'s seconds (a worker's report, a batch's sum) added into ``total``; codes Whisper does not know and
    values that are not finite seconds are left out."""
    add_seconds(total, {code: float(s) for code, s in (more or {}).items() if code in _KNOWN and _seconds(s)})


def languages_field(seconds: Mapping[str, float]) -> list[dict[str, Any]]:
    """The ``languages`` of a custom status or of the job's progress: ``{language, seconds}``, most first (ties by
    code, so a replay writes the same)."""
    return [entry.model_dump() for entry in summary(dict(seconds))]


def seconds_of(field: Any) -> dict[str, float]:
    """A ``languages`` field (:func:`languages_field`) read back from a custom status; anything else counts as
    nothing heard (an orchestration written before languages were counted has none)."""
    total: dict[str, float] = {}
    for entry in field if isinstance(field, list) else []:
        if isinstance(entry, dict):
            add_heard(total, {str(entry.get("language")): entry.get("seconds")})
    return total


def _seconds(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
