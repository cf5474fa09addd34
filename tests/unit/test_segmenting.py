import itertools
import math
import random
from typing import Any

import pytest

from shared.contracts import Window
from shared.segmenting import plan_boundaries, plan_windows, snap_to_silence


def assert_partition(windows: list[Window], duration: float, overlap: float) -> None:
    """Keep ranges tile [0, duration) exactly; each window is its keep range plus the overlap, clipped."""
    assert windows, "at least one window"
    assert [w.index for w in windows] == list(range(len(windows)))
    assert windows[0].keep_start_s == 0.0
    assert windows[-1].keep_end_s == duration
    for before, after in itertools.pairwise(windows):
        assert before.keep_end_s == after.keep_start_s  # the very same float: no gap, no overlap
    for w in windows:
        assert w.keep_start_s < w.keep_end_s
        assert 0.0 <= w.start_s <= w.keep_start_s and w.keep_end_s <= w.end_s <= duration
        assert w.start_s <= max(0.0, w.keep_start_s - overlap) + 1e-9
        assert w.end_s >= min(duration, w.keep_end_s + overlap) - 1e-9
        assert w.end_s - w.keep_end_s <= overlap + 0.01 and w.keep_start_s - w.start_s <= overlap + 0.01
    for w in windows[:-1]:
        assert math.isclose(w.keep_end_s * 100, round(w.keep_end_s * 100), abs_tol=1e-6)  # 10 ms grid


DURATIONS = [0.01, 1.0, 29.99, 30.0, 59.5, 75.0, 299.99, 300.0, 301.0, 374.99, 375.0, 600.0, 3600.0, 7322.37, 360_000.0]


@pytest.mark.parametrize("workers", [1, 2, 3, 7, 8, 64, 1000])
@pytest.mark.parametrize("duration", DURATIONS)
def test_keep_ranges_partition_the_file(duration: float, workers: int) -> None:
    windows = plan_windows(duration, workers=workers)
    assert_partition(windows, duration, 2.0)
    core = min(300.0, max(30.0, duration / workers))
    lengths = [w.keep_end_s - w.keep_start_s for w in windows]
    assert all(length <= core * 1.25 + 0.01 for length in lengths)  # a merged tail adds under a quarter
    if len(windows) > 1:
        assert min(lengths) >= core / 4 - 0.01  # no tiny last window


def test_random_plans_partition_the_file() -> None:
    rng = random.Random(7)
    for _ in range(1000):
        duration = round(10 ** rng.uniform(-1.5, 5.0), rng.choice([0, 2, 3, 6]))  # 30 ms to 28 h, log-uniform
        if duration <= 0:
            continue
        min_window = rng.choice([5.0, 30.0, 60.0])
        overlap = rng.uniform(0.0, min_window / 2 - 0.01)
        windows = plan_windows(
            duration,
            window_s=rng.choice([min_window, 120.0, 300.0, 900.0]),
            overlap_s=overlap,
            workers=rng.randint(1, 200),
            min_window_s=min_window,
        )
        assert_partition(windows, duration, overlap)


@pytest.mark.parametrize(
    ("duration", "workers", "expected"),
    [
        (600.0, 8, [75.0] * 8),  # more workers: more, shorter windows
        (600.0, 1, [300.0, 300.0]),
        (600.0, 100, [30.0] * 20),  # never shorter than min_window_s
        (3700.0, 1, [300.0] * 12 + [100.0]),  # a 100 s tail is a window of its own (>= 75 s)
        (3660.0, 1, [300.0] * 11 + [360.0]),  # a 60 s tail joins the last window
        (20.0, 4, [20.0]),  # shorter than a window: one window
        (100.0, 3, [33.33, 33.34, 33.33]),  # boundaries 33.33 and 66.67: each rounded, no drift
    ],
)
def test_window_count_and_lengths(duration: float, workers: int, expected: list[float]) -> None:
    windows = plan_windows(duration, workers=workers)
    assert [round(w.keep_end_s - w.keep_start_s, 2) for w in windows] == expected


def test_windows_carry_the_overlap_clipped_to_the_file() -> None:
    windows = plan_windows(600.0, workers=8, overlap_s=2.0)
    assert (windows[0].start_s, windows[0].end_s) == (0.0, 77.0)
    assert (windows[3].start_s, windows[3].keep_start_s, windows[3].keep_end_s, windows[3].end_s) == (
        223.0,
        225.0,
        300.0,
        302.0,
    )
    assert windows[-1].end_s == 600.0


def test_zero_overlap_windows_are_their_keep_ranges() -> None:
    for w in plan_windows(1000.0, overlap_s=0.0):
        assert (w.start_s, w.end_s) == (w.keep_start_s, w.keep_end_s)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"duration_s": 0.0}, "duration_s must be a positive"),
        ({"duration_s": -5.0}, "duration_s must be a positive"),
        ({"duration_s": math.nan}, "duration_s must be a positive"),
        ({"duration_s": math.inf}, "duration_s must be a positive"),
        ({"duration_s": 100.0, "overlap_s": 15.0}, "less than half of min_window_s"),
        ({"duration_s": 100.0, "overlap_s": -1.0}, "overlap_s must be zero or positive"),
        ({"duration_s": 100.0, "workers": 0}, "workers must be an integer"),
        ({"duration_s": 100.0, "window_s": 10.0}, "window_s must be at least min_window_s"),
        ({"duration_s": 100.0, "min_window_s": 0.0}, "min_window_s must be positive"),
    ],
)
def test_bad_inputs_are_refused_clearly(kwargs: dict[str, Any], message: str) -> None:
    duration = kwargs.pop("duration_s")
    with pytest.raises(ValueError, match=message):
        plan_windows(duration, **kwargs)


def test_boundaries_snap_to_the_middle_of_the_nearest_silence() -> None:
    silences = [(73.5, 74.5), (151.0, 151.4), (160.0, 170.0), (224.0, 230.0)]
    windows = plan_windows(600.0, workers=8, overlap_s=2.0, silences=silences)
    cuts = [w.keep_end_s for w in windows[:-1]]
    # 75 -> middle of (73.5, 74.5); 150 -> middle of (151.0, 151.4); 225 -> middle of the part of (224, 230)
    # within 2 s, i.e. (224, 227); 300 and later: no silence within 2 s, unchanged.
    assert cuts == [74.0, 151.2, 225.5, 300.0, 375.0, 450.0, 525.0]
    assert_partition(windows, 600.0, 2.0)


def test_nearest_silence_wins_and_far_ones_are_ignored() -> None:
    assert snap_to_silence([0.0, 100.0, 200.0], [(97.0, 97.5), (100.5, 101.0), (140.0, 150.0)], max_shift_s=2.0) == [
        0.0,
        100.75,
        200.0,
    ]
    assert snap_to_silence([0.0, 100.0, 200.0], [(90.0, 95.0)], max_shift_s=2.0) == [0.0, 100.0, 200.0]


def test_snapping_never_breaks_the_partition() -> None:
    rng = random.Random(3)
    for _ in range(300):
        duration = rng.uniform(10.0, 5000.0)
        silences = [(t, t + rng.uniform(0.0, 3.0)) for t in (rng.uniform(0, duration) for _ in range(200))]
        windows = plan_windows(duration, workers=rng.randint(1, 50), overlap_s=2.0, silences=silences)
        assert_partition(windows, duration, 2.0)


def test_snapping_keeps_the_ends_and_checks_order() -> None:
    assert snap_to_silence([0.0, 10.0], [(0.0, 1.0), (9.0, 10.0)], max_shift_s=2.0) == [0.0, 10.0]
    with pytest.raises(ValueError, match="strictly increasing"):
        snap_to_silence([0.0, 50.0, 40.0], [], max_shift_s=1.0)


def test_plan_boundaries_is_exact_at_the_end() -> None:
    assert plan_boundaries(1234.567, 300.0) == [0.0, 300.0, 600.0, 900.0, 1234.567]
