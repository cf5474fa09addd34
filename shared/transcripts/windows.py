"""Planning the windows a long recording is cut into, one GPU job each.

Each window has a *keep range*; the keep ranges partition ``[0, duration)`` exactly (contiguous, no gaps, no
overlaps, the last one ending at the duration) because stitching keeps a word in the one window whose keep range
holds the word's midpoint: a gap would lose words, an overlap would duplicate them. Around its keep range a
window decodes ``overlap_s`` more audio on both sides, so that a word cut by the boundary is heard whole by at
least one of the two windows and Whisper has a little context at the edges.

Windows are of equal length, as many as needed for none to be longer than ``window_s``, and then, when that
shortens the job, a multiple of the workers: 749 s on 2 workers becomes 4 windows of 187 s, two full rounds done
at 374 s, rather than 300 / 300 / 149 s, whose second round keeps one worker idle and ends at 449 s. A file shorter
than the workers' share becomes one window per worker, down to ``min_window_s`` (short windows lose context and
cost a job start each). Boundaries sit on a 10 ms grid. When silences are known, boundaries move into them: a cut
in silence cannot split a word.

A window can be computed on its own from its index (:func:`window_at`), so an orchestration can hand a batch of
window indices to a sub-orchestration without ever holding every window of a 10,000-segment job.

Pure Python, deterministic and cheap, so it can run in the orchestrator's replay as well as in an activity.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence

from shared.contracts import Window

DEFAULT_WINDOW_S = 300.0
DEFAULT_OVERLAP_S = 2.0
DEFAULT_MIN_WINDOW_S = 30.0
GRID_S = 0.01
_GRID_PER_S = 100  # 1 / GRID_S, as an integer so grid arithmetic stays exact
_EPS = 1e-9


def plan_windows(
    duration_s: float,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    overlap_s: float = DEFAULT_OVERLAP_S,
    workers: int = 1,
    min_window_s: float = DEFAULT_MIN_WINDOW_S,
    silences: Iterable[tuple[float, float]] | None = None,
) -> list[Window]:
    """The windows to transcribe, in order, with keep ranges that partition ``[0, duration_s)``.

    ``silences`` (optional ``(start, end)`` intervals in seconds, e.g. from the probe or a VAD pass) move each
    interior boundary into the nearest silence at most ``overlap_s`` away. Raises ``ValueError`` for a
    non-positive duration (the caller reports ``empty_audio``) and for inconsistent settings.
    """
    count = window_count(duration_s, window_s=window_s, workers=workers, min_window_s=min_window_s, overlap_s=overlap_s)
    boundaries = equal_boundaries(duration_s, count)
    if silences is not None and overlap_s > 0:
        boundaries = snap_to_silence(boundaries, silences, max_shift_s=overlap_s)
    return windows_from_boundaries(boundaries, overlap_s=overlap_s)


def window_count(
    duration_s: float, *, window_s: float, workers: int, min_window_s: float, overlap_s: float = DEFAULT_OVERLAP_S
) -> int:
    """How many equal windows: the fewest no longer than ``window_s``, raised to fill whole rounds of ``workers``
    (the same number of rounds, each shorter) as long as windows stay at least ``min_window_s`` long."""
    _validate(duration_s, window_s=window_s, overlap_s=overlap_s, workers=workers, min_window_s=min_window_s)
    fewest = max(1, math.ceil(duration_s / window_s - _EPS))
    rounds = math.ceil(fewest / workers)
    longest_allowed = math.floor(duration_s / min_window_s + _EPS)
    return max(fewest, min(rounds * workers, longest_allowed))


def equal_boundaries(duration_s: float, count: int) -> list[float]:
    """Partition points ``[0, b1, ..., duration_s]`` of ``count`` equal ranges, inner points on the 10 ms grid."""
    if not (math.isfinite(duration_s) and duration_s > 0) or count < 1:
        raise ValueError(f"duration_s and count must be positive, got {duration_s!r} and {count!r}")
    return _strictly_inside((_boundary(duration_s, count, k) for k in range(1, count)), duration_s)


def window_at(index: int, duration_s: float, count: int, overlap_s: float) -> Window:
    """Window ``index`` of ``count`` equal windows (what ``plan_windows`` gives without silences), on its own."""
    if not 0 <= index < count:
        raise ValueError(f"window {index} is not one of {count}")
    keep_start = 0.0 if index == 0 else _boundary(duration_s, count, index)
    keep_end = duration_s if index == count - 1 else _boundary(duration_s, count, index + 1)
    return _window(index, keep_start, keep_end, duration_s, overlap_s)


def _boundary(duration_s: float, count: int, k: int) -> float:
    return _to_grid(k * duration_s / count)


def snap_to_silence(
    boundaries: Sequence[float], silences: Iterable[tuple[float, float]], *, max_shift_s: float
) -> list[float]:
    """Move each interior boundary to the middle of the nearest silence within ``±max_shift_s``.

    ``boundaries`` are the partition points including ``0`` and the duration; those two never move. A cut in
    silence cannot split a word, and the stitcher then has nothing to decide at that seam. Each boundary also
    stays within half-way of its neighbours so that no keep range collapses; the result is still strictly
    increasing, so still a partition. Only the part of a silence inside the allowed span counts, so a long
    pause is cut near the planned point rather than at its far-away middle.
    """
    if max_shift_s < 0 or not math.isfinite(max_shift_s):
        raise ValueError(f"max_shift_s must be a non-negative number, got {max_shift_s!r}")
    points = list(boundaries)
    if any(later <= earlier for earlier, later in itertools.pairwise(points)):
        raise ValueError("boundaries must be strictly increasing")
    merged = _merge_intervals(silences)
    starts = [s for s, _ in merged]
    out = points[:1]
    for i in range(1, len(points) - 1):
        b = points[i]
        lo = max(b - max_shift_s, (out[-1] + b) / 2)
        hi = min(b + max_shift_s, (b + points[i + 1]) / 2)
        moved = _nearest_silence_middle(b, lo, hi, merged, starts)
        if moved is not None:
            moved = _to_grid(moved)
            if not out[-1] < moved < points[i + 1]:
                moved = None
        out.append(b if moved is None else moved)
    out.extend(points[len(out) :])
    return out


def windows_from_boundaries(boundaries: Sequence[float], *, overlap_s: float) -> list[Window]:
    """Windows whose keep ranges are consecutive boundary pairs, widened by ``overlap_s`` within the file."""
    duration = boundaries[-1]
    return [
        _window(index, keep_start, keep_end, duration, overlap_s)
        for index, (keep_start, keep_end) in enumerate(itertools.pairwise(boundaries))
    ]


def _window(index: int, keep_start: float, keep_end: float, duration: float, overlap_s: float) -> Window:
    """The keep range widened by the overlap, rounded outwards to the 10 ms grid (so a window always holds at
    least the overlap asked for) and clipped to the file."""
    start = max(0.0, math.floor((keep_start - overlap_s) * _GRID_PER_S + _EPS) / _GRID_PER_S)
    end = min(duration, math.ceil((keep_end + overlap_s) * _GRID_PER_S - _EPS) / _GRID_PER_S)
    return Window(
        index=index,
        start_s=min(start, keep_start),
        end_s=max(end, keep_end),
        keep_start_s=keep_start,
        keep_end_s=keep_end,
    )


def _validate(duration_s: float, *, window_s: float, overlap_s: float, workers: int, min_window_s: float) -> None:
    """Refuse settings that could not give a partition, with a message that names the setting."""
    if not math.isfinite(duration_s) or duration_s <= 0:
        raise ValueError(f"duration_s must be a positive number of seconds, got {duration_s!r}")
    if not math.isfinite(min_window_s) or min_window_s <= 0:
        raise ValueError(f"min_window_s must be positive, got {min_window_s!r}")
    if not math.isfinite(window_s) or window_s < min_window_s:
        raise ValueError(f"window_s must be at least min_window_s ({min_window_s!r}), got {window_s!r}")
    if not math.isfinite(overlap_s) or overlap_s < 0:
        raise ValueError(f"overlap_s must be zero or positive, got {overlap_s!r}")
    if overlap_s >= min_window_s / 2:
        raise ValueError(f"overlap_s ({overlap_s!r}) must be less than half of min_window_s ({min_window_s!r})")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer of at least 1, got {workers!r}")


def _to_grid(seconds: float) -> float:
    return round(seconds * _GRID_PER_S) / _GRID_PER_S


def _strictly_inside(inner: Iterable[float], duration_s: float) -> list[float]:
    """``[0, *inner, duration]`` without points that rounding pushed onto a neighbour or past the end."""
    out = [0.0]
    for b in inner:
        if out[-1] < b < duration_s:
            out.append(b)
    out.append(duration_s)
    return out


def _merge_intervals(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, disjoint union of the valid intervals, so that ends are sorted too and a search can stop early."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted((float(s), float(e)) for s, e in intervals if e > s):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _nearest_silence_middle(
    b: float, lo: float, hi: float, silences: Sequence[tuple[float, float]], starts: Sequence[float]
) -> float | None:
    """Middle of the part within ``(lo, hi)`` of the silence nearest to ``b``; longer wins a tie."""
    best: tuple[float, float, float] | None = None  # (distance, -length, middle)
    i = bisect.bisect_left(starts, hi) - 1
    while i >= 0 and silences[i][1] > lo:
        start, end = max(silences[i][0], lo), min(silences[i][1], hi)
        if end > start:
            distance = 0.0 if start <= b <= end else min(abs(start - b), abs(end - b))
            candidate = (distance, start - end, (start + end) / 2)
            if best is None or candidate < best:
                best = candidate
        i -= 1
    return None if best is None else best[2]
