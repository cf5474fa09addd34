"""Seconds of speech per language: what a window reports to its batch while the job runs, and the transcript's
``languages`` summary when it is done. Counted from segments (start to end), the stretches Whisper decoded in one
language, so pauses between them count for no language."""

from __future__ import annotations

from collections.abc import Iterable

from shared.contracts import LanguageSeconds, Segment, Window


def seconds_by_language(segments: Iterable[Segment], window: Window | None = None) -> dict[str, float]:
    """Each language's seconds; with ``window``, only segments whose midpoint it keeps (as the stitcher keeps
    words), so that overlapping windows do not count their shared speech twice."""
    counts: dict[str, float] = {}
    for segment in segments:
        if segment.language is None:
            continue
        if window is not None and not window.keep_start_s <= (segment.start + segment.end) / 2 < window.keep_end_s:
            continue
        counts[segment.language] = counts.get(segment.language, 0.0) + max(segment.end - segment.start, 0.0)
    return {language: round(seconds, 3) for language, seconds in counts.items()}


def add_seconds(total: dict[str, float], more: dict[str, float]) -> None:
    """``more``'s seconds added into ``total`` (a batch's or a job's running count)."""
    for language, seconds in more.items():
        total[language] = round(total.get(language, 0.0) + seconds, 3)


def summary(seconds: dict[str, float]) -> list[LanguageSeconds]:
    """Most spoken first (ties by code, so the order is the same every time)."""
    ordered = sorted(seconds.items(), key=lambda item: (-item[1], item[0]))
    return [LanguageSeconds(language=language, seconds=round(s, 3)) for language, s in ordered if s > 0]
