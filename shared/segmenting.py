"""Planning the windows a long recording is cut into, one GPU job each.

Each window has a *keep range*; the keep ranges partition ``[0, duration)`` exactly (contiguous, no gaps, no
overlaps, the last one ending at the duration) because stitching keeps a word in the one window whose keep range
holds the word's midpoint: a gap would lose words, an overlap would duplicate them. Around its keep range a
window decodes ``overlap_s`` more audio on both sides, so that a word cut by the boundary is heard whole by at
least one of the two windows and Whisper has a little context at the edges.

More free workers means more, shorter windows (down to ``min_window_s``): a 10-minute file on 8 workers becomes
8 windows of 75 s that run side by side, not 2 windows of 300 s that leave 6 workers idle. Boundaries sit on a
10 ms grid so that plans are readable and stable; a short tail is folded into the previous window because a few
seconds of audio on their own transcribe badly (no context) and cost a whole job start. When silences are known,
boundaries move into them: a cut in silence cannot split a word.

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
# A tail shorter than this fraction of the core length is merged into the previous window.
TAIL_MERGE_FRACTION = 0.25
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
    _validate(duration_s, window_s=window_s, overlap_s=overlap_s, workers=workers, min_window_s=min_window_s)
    core = core_length(duration_s, window_s=window_s, workers=workers, min_window_s=min_window_s)
    boundaries = plan_boundaries(duration_s, core)
    if silences is not None and overlap_s > 0:
        boundaries = snap_to_silence(boundaries, silences, max_shift_s=overlap_s)
    return windows_from_boundaries(boundaries, overlap_s=overlap_s)


def core_length(duration_s: float, *, window_s: float, workers: int, min_window_s: float) -> float:
    """Keep-range length: the file shared among the workers, but never longer than ``window_s`` nor shorter
    than ``min_window_s`` (short windows lose context and spend more on job start-up than they save)."""
    return min(window_s, max(min_window_s, duration_s / workers))


def plan_boundaries(duration_s: float, core_s: float) -> list[float]:
    """Partition points ``[0, b1, ..., duration_s]`` every ``core_s`` seconds, on the 10 ms grid.

    The last range is what is left; when that is under a quarter of ``core_s`` it joins the range before it.
    """
    if not (math.isfinite(duration_s) and duration_s > 0 and math.isfinite(core_s) and core_s > 0):
        raise ValueError(f"duration_s and core_s must be positive, got {duration_s!r} and {core_s!r}")
    full = max(1, math.floor(duration_s / core_s + _EPS))
    tail = duration_s - full * core_s
    count = full + 1 if tail >= TAIL_MERGE_FRACTION * core_s - _EPS else full
    inner = [_to_grid(k * core_s) for k in range(1, count)]
    return _strictly_inside(inner, duration_s)


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
    """Windows whose keep ranges are consecutive boundary pairs, widened by ``overlap_s`` within the file.

    The widening is rounded outwards to the 10 ms grid, so a window always holds at least the overlap asked for.
    """
    duration = boundaries[-1]
    windows: list[Window] = []
    for index, (keep_start, keep_end) in enumerate(itertools.pairwise(boundaries)):
        start = max(0.0, math.floor((keep_start - overlap_s) * _GRID_PER_S + _EPS) / _GRID_PER_S)
        end = min(duration, math.ceil((keep_end + overlap_s) * _GRID_PER_S - _EPS) / _GRID_PER_S)
        windows.append(
            Window(
                index=index,
                start_s=min(start, keep_start),
                end_s=max(end, keep_end),
                keep_start_s=keep_start,
                keep_end_s=keep_end,
            )
        )
    return windows


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
