import itertools
import math
import random
from typing import Any

import pytest

from shared.contracts import Window
from shared.transcripts.windows import equal_boundaries, plan_windows, snap_to_silence, window_at, window_count


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
    lengths = [w.keep_end_s - w.keep_start_s for w in windows]
    assert max(lengths) <= 300.0 + 0.01  # never longer than the window setting
    assert max(lengths) - min(lengths) <= 0.02  # equal, up to the 10 ms grid
    if len(windows) > 1:
        assert min(lengths) >= 30.0 - 0.01  # never shorter than min_window_s


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
        (3700.0, 1, [284.62, 284.61] * 6 + [284.62]),  # 13 equal windows, none over 300 s, no short tail
        (749.0, 2, [187.25] * 4),  # two full rounds (374 s) rather than 300 / 300 / 149 (449 s)
        (749.0, 3, [249.67, 249.66, 249.67]),  # already one full round of 3
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


def test_equal_boundaries_are_exact_at_the_end() -> None:
    assert equal_boundaries(1234.567, 5) == [0.0, 246.91, 493.83, 740.74, 987.65, 1234.567]


def _makespan(duration: float, count: int, workers: int) -> float:
    return math.ceil(count / workers) * duration / count


def test_the_plan_is_balanced_over_the_workers() -> None:
    """Property test: over durations and worker counts, the plan's makespan (rounds x window length) is the best
    any count of equal windows within the settings can give, and no count with the same makespan is smaller."""
    rng = random.Random(12)
    for _ in range(3000):
        duration = round(10 ** rng.uniform(0.0, 5.6), 2)  # 1 s to 110 h
        workers, window, minimum = rng.randint(1, 120), rng.choice([30.0, 120.0, 300.0, 900.0]), rng.choice([5.0, 30.0])
        window = max(window, minimum)
        count = window_count(duration, window_s=window, workers=workers, min_window_s=minimum, overlap_s=1.0)
        fewest = max(1, math.ceil(duration / window - 1e-9))  # "never longer than the window setting" is hard
        longest = max(fewest, math.floor(duration / minimum + 1e-9))  # min_window_s only when it can be had
        allowed = [n for n in range(fewest, longest + 1) if n == fewest or duration / n >= minimum - 1e-9]
        best = min(_makespan(duration, n, workers) for n in allowed)
        assert count in allowed, (duration, workers, window, minimum, count)
        assert _makespan(duration, count, workers) <= best + 1e-6, (duration, workers, window, minimum, count)
        assert count == min(n for n in allowed if _makespan(duration, n, workers) <= best + 1e-6)


def test_each_window_can_be_computed_on_its_own() -> None:
    """What a sub-orchestration does for its batch: the same windows as the whole plan, without the whole plan."""
    for duration, workers, window in [(36_000.0, 2, 30.0), (749.0, 2, 300.0), (7322.37, 7, 120.0), (0.5, 4, 300.0)]:
        plan = plan_windows(duration, workers=workers, window_s=window, min_window_s=min(30.0, window), overlap_s=1.5)
        assert [window_at(i, duration, len(plan), 1.5) for i in range(len(plan))] == plan
    with pytest.raises(ValueError, match="not one of"):
        window_at(3, 10.0, 3, 1.0)
