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
cost a job start each). Boundaries sit on a 10 ms grid.

A window can be computed on its own from its index (:func:`window_at`), so an orchestration can hand a batch of
window indices to a sub-orchestration without ever holding every window of a 10,000-segment job.

Pure Python, deterministic and cheap, so it can run in the orchestrator's replay as well as in an activity.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

from shared.config import setting_default
from shared.contracts import Window

DEFAULT_WINDOW_S: float = setting_default("segment_window_s")
DEFAULT_OVERLAP_S: float = setting_default("segment_overlap_s")
DEFAULT_MIN_WINDOW_S: float = setting_default("segment_min_window_s")
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
) -> list[Window]:
    """The windows to transcribe, in order, with keep ranges that partition ``[0, duration_s)``.

    Raises ``ValueError`` for a non-positive duration (the caller reports ``empty_audio``) and for inconsistent
    settings.
    """
    count = window_count(duration_s, window_s=window_s, workers=workers, min_window_s=min_window_s, overlap_s=overlap_s)
    return windows_from_boundaries(equal_boundaries(duration_s, count), overlap_s=overlap_s)


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
    """Window ``index`` of ``count`` equal windows (what ``plan_windows`` gives), on its own."""
    if not 0 <= index < count:
        raise ValueError(f"window {index} is not one of {count}")
    keep_start = 0.0 if index == 0 else _boundary(duration_s, count, index)
    keep_end = duration_s if index == count - 1 else _boundary(duration_s, count, index + 1)
    return _window(index, keep_start, keep_end, duration_s, overlap_s)


def _boundary(duration_s: float, count: int, k: int) -> float:
    return _to_grid(k * duration_s / count)


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
