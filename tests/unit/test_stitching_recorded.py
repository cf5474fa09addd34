"""Stitching real worker outputs, with exact expectations: no model runs here, so these hold on any CPU.

``tests/data/worker_outputs/*.json`` hold what workers returned for each window of a clip (tiny.en, recorded by
``tests/data/record_worker_outputs.py``) and a single faster-whisper pass over the whole file, recorded alongside.
Everything below is deterministic: which words each seam keeps, where every word's time comes from, and each
place the stitched transcript differs from the single pass (every one a word the owning window's model heard
differently, away from the seams; none lost or doubled at a seam).

The last tests break the stitcher on purpose (the words of one seam dropped, the overlap kept twice, one window
shifted by 1 s) and show that these checks, and the end-to-end test's tolerances, catch each one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import shared.transcripts.stitching
from shared.contracts import SegmentResult, Window, Word
from shared.transcripts.stitching import stitch
from tests.data.record_worker_outputs import CASES as RECORDING_CASES
from tests.support.fidelity import E2E_TOLERANCES, Comparison, compare, problems
from tests.support.wer import errors

DATA = Path(__file__).resolve().parent.parent / "data"
RECORDED = DATA / "worker_outputs"

# The stitched words whose midpoint lies within 2 s of each seam: the spoken text (tests/data/long.txt, speech.txt),
# except where the window that owns a word heard it otherwise ("Wager" and "auger" for "water", "tank" for "tap",
# "share" for "a chair") or punctuated it otherwise.
SEAM_TEXT = {
    "long-production": {36.62: "It holds enough Wager for the whole garden for two weeks."},
    "long-short": {
        20.0: "Saturday of May. We need people to set up the tables, to",
        40.0: "weeks. Please close the tap when you are done, because a small",
        60.0: "hall instead, and the games will be held inside.",
    },
    "long-dense": {
        10.0: "and the summer picnic. Please find the seat and turn off",
        20.0: "Saturday of May. We need people to set up the tables, to",
        30.0: "name on the list by the door. The new",
        40.0: "weeks. Please close the tank when you are done, because a small",
        50.0: "the river, bringing a dish to share. and share to sit on.",
        60.0: "hall instead, and the games will be held inside.",
        70.0: "same time and in the same room. have a good night and drive",
    },
    # Window 1 was given audio from the middle of "picnic" and skipped to 14.5 s; the words window 0 heard past
    # the seam fill the hole, as far as its audio went ("and turn." at its very end is not trusted).
    "long-dense-mid-word": {
        10.0: "and the summer picnic. Please find the seat",
        20.0: "Saturday of May. We need people to set up the tables, to",
        30.0: "name on the list by the door. The new",
        40.0: "weeks. Please close the tank when you are done, because a small",
        50.0: "the river, bring a dish to share and share to sit on.",
        60.0: "hall instead, and the games will be held inside.",
        70.0: "same time and in the same room. Have a good night and drive",
    },
    "speech-dense": {10.0: "His dog liked to help him carry the water, one"},
    # The batched pipeline (the workers' default), on the balanced plan's seams.
    "long-production-batched": {36.62: "It holds enough auger for the whole garden for two weeks."},
    "long-short-batched": {
        18.31: "night in the morning on the first Saturday of May, we need people",
        36.62: "It holds enough water for the whole garden for two weeks.",
        54.93: "for the children and music in the evening. If it rains, we",
    },
    "long-dense-batched": {
        9.15: "water tank and the summer picnic. please find the seat",
        18.31: "night in the morning on the first Saturday of May, we need people",
        27.46: "If you can help, please write your aim on the list by the",
        36.62: "It holds enough auger for the whole garden for two weeks.",
        45.77: "water. The summer picnic will be in the park",
        54.93: "for the children and music in the evening. If it rains, we",
        64.08: "Thank you all for coming tonight. The next",
    },
}
# Every place the stitched transcript differs from the recorded single pass: (where, single pass, stitched).
DIFFERENCES = {
    "long-production": [
        (28.88, "by the", "i'm a"),
        (31.84, "water", "wager"),
        (35.96, "water", "wager"),
        (48.88, "bringing", "bring"),
        (50.38, "a chair", "share"),
    ],
    "long-short": [(1.64, "of", "on"), (48.85, "bringing", "bring"), (50.4, "a chair", "share")],
    "long-dense": [
        (1.62, "of", "on"),
        (16.39, "high", "night"),
        (31.86, "water", "auger"),
        (35.95, "water", "auger"),
        (39.77, "tap", "tank"),
        (50.4, "a chair", "share"),
    ],
    "long-dense-mid-word": [
        (1.62, "of", "on"),
        (11.1, "and turn off your phone", ""),  # nobody heard these: window 0's audio ended at 11.5 s
        (16.4, "high", "night"),
        (31.84, "water", "auger"),
        (35.94, "water", "auger"),
        (39.76, "tap", "tank"),
        (48.98, "bringing", "bring"),
        (50.4, "a chair", "share"),
    ],
    "speech-dense": [],
    "long-production-batched": [
        (16.39, "high", "night"),
        (31.85, "water", "auger"),
        (35.93, "water", "auger"),
        (48.85, "bringing", "bring"),
        (50.4, "a chair", "share"),
    ],
    "long-short-batched": [(1.62, "of", "on"), (16.39, "high", "night")],
    "long-dense-batched": [
        (1.62, "of", "on"),
        (16.39, "high", "night"),
        (25.02, "the day", "may"),
        (28.04, "name", "aim"),
        (31.86, "water", "auger"),
        (35.96, "water", "auger"),
        (48.7, "bringing", "bring"),
        (50.4, "a chair", "share"),
    ],
}
# Word errors against the spoken text: the stitched transcript, and the single pass recorded with it.
REFERENCE_ERRORS = {
    "long-production": (9, 4),
    "long-short": (6, 4),
    "long-dense": (10, 4),
    "long-dense-mid-word": (14, 4),
    "speech-dense": (4, 4),
    "long-production-batched": (7, 4),
    "long-short-batched": (5, 4),
    "long-dense-batched": (11, 4),
}


@cache
def recorded(case: str) -> dict[str, Any]:
    return dict(json.loads((RECORDED / f"{case}.json").read_text()))


def results(case: str) -> list[SegmentResult]:
    return [SegmentResult.model_validate(r) for r in recorded(case)["windows"]]


def stitched_words(case: str) -> list[Word]:
    segments, _ = stitch(results(case), recorded(case)["audio"]["duration_s"])
    return [w for s in segments for w in s.words]


def single_pass(case: str) -> list[Word]:
    return [Word.model_validate(w) for w in recorded(case)["single_pass"]]


def seams(case: str) -> list[float]:
    return [r.window.keep_start_s for r in results(case)[1:]]


def around_seams(words: list[Word], case: str) -> dict[float, str]:
    return {
        seam: " ".join(w.word.strip() for w in words if abs((w.start + w.end) / 2 - seam) < 2.0) for seam in seams(case)
    }


def exact_problems(case: str, words: list[Word]) -> list[str]:
    """Everything the exact expectations say, as a list of what is wrong (empty: all hold)."""
    found: list[str] = []
    if (text := around_seams(words, case)) != SEAM_TEXT[case]:
        found.append(f"seam text {text}")
    comparison = compare(words, single_pass(case))
    differences = [(round(d.at_s, 2), d.theirs, d.ours) for d in comparison.differences]
    if differences != DIFFERENCES[case]:
        found.append(f"differences from the single pass {differences}")
    heard = {(w.word, w.start, w.end) for r in results(case) for s in r.segments for w in s.words}
    if invented := [(w.word, w.start, w.end) for w in words if (w.word, w.start, w.end) not in heard]:
        found.append(f"words no window heard at that time: {invented[:5]}")
    if [w.start for w in words] != sorted(w.start for w in words):
        found.append("word times go backwards")
    return found


CASES = sorted(SEAM_TEXT)
CASE_KERNELS = {case: kernels for case, (_, _, _, kernels) in RECORDING_CASES.items()}


def test_the_recordings_are_the_cases_the_expectations_describe() -> None:
    assert sorted(p.stem for p in RECORDED.glob("*.json")) == CASES
    for case in CASES:
        assert recorded(case)["recorded_with"]["kernels"] == CASE_KERNELS[case]
        windows = [r.window for r in results(case)]
        assert [w.index for w in windows] == list(range(len(windows))) and len(windows) >= 2


@pytest.mark.parametrize("case", CASES)
def test_every_seam_keeps_each_word_once_and_in_order(case: str) -> None:
    assert around_seams(stitched_words(case), case) == SEAM_TEXT[case]


@pytest.mark.parametrize("case", CASES)
def test_the_stitch_differs_from_a_single_pass_only_where_a_window_heard_a_word_otherwise(case: str) -> None:
    comparison = compare(stitched_words(case), single_pass(case))
    assert [(round(d.at_s, 2), d.theirs, d.ours) for d in comparison.differences] == DIFFERENCES[case]
    for difference in comparison.differences:
        if difference.ours:  # a word heard otherwise: the owning window's own words say so
            owner = next(r for r in results(case) if r.window.keep_start_s <= difference.at_s < r.window.keep_end_s)
            heard = " ".join(w.word.strip() for s in owner.segments for w in s.words).lower()
            assert difference.ours.split()[0] in heard


@pytest.mark.parametrize("case", CASES)
def test_every_word_keeps_the_time_its_window_gave_it(case: str) -> None:
    assert exact_problems(case, stitched_words(case)) == []


@pytest.mark.parametrize("case", CASES)
def test_word_errors_against_the_spoken_text(case: str) -> None:
    reference = (DATA / ("long.txt" if case.startswith("long") else "speech.txt")).read_text()
    ours = errors(reference, " ".join(w.word for w in stitched_words(case)))
    single = errors(reference, " ".join(w.word for w in single_pass(case)))
    assert (ours, single) == REFERENCE_ERRORS[case]


@pytest.mark.parametrize("case", [c for c in CASES if c != "long-dense-mid-word"])
def test_the_end_to_end_tolerances_accept_a_correct_stitch(case: str) -> None:
    comparison = compare(stitched_words(case), single_pass(case))
    assert problems(comparison, seams(case), E2E_TOLERANCES) == []


def test_filling_the_hole_recovers_words_the_right_window_skipped() -> None:
    """Without the hole filling, the mid-word recording loses four more words at the 10 s seam."""
    case = "long-dense-mid-word"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shared.transcripts.stitching, "_fill_seam_holes", lambda left, right: None)
        unfilled = compare(stitched_words(case), single_pass(case))
    filled = compare(stitched_words(case), single_pass(case))
    assert filled.unmatched == unfilled.unmatched - 4
    assert around_seams(stitched_words(case), case)[10.0].endswith("Please find the seat")


# --- deliberately broken stitchers: the checks above and the end-to-end tolerances must catch each one ----------


def _drop_words_after_one_seam(patch: pytest.MonkeyPatch) -> None:
    """Window 1 keeps nothing in its first 1.5 s: the words just after the first seam are lost."""
    original = shared.transcripts.stitching.ownership_range

    def shrunk(window: Window, duration_s: float) -> tuple[float, float]:
        lo, hi = original(window, duration_s)
        return (lo + 1.5, hi) if window.index == 1 else (lo, hi)

    patch.setattr(shared.transcripts.stitching, "ownership_range", shrunk)


def _keep_the_overlap_twice(patch: pytest.MonkeyPatch) -> None:
    """Each window keeps everything it heard, overlap included."""
    patch.setattr(
        shared.transcripts.stitching, "ownership_range", lambda window, duration_s: (window.start_s, window.end_s)
    )


def _shift_one_window(patch: pytest.MonkeyPatch) -> None:
    """Window 1's times are taken 1 s late (as if its offset were added twice, in part)."""
    original = shared.transcripts.stitching._WindowWords.owned

    def shifted(result: SegmentResult, duration_s: float) -> Any:
        if result.index == 1:
            moved = [
                s.model_copy(
                    update={
                        "start": s.start + 1,
                        "end": s.end + 1,
                        "words": [w.model_copy(update={"start": w.start + 1, "end": w.end + 1}) for w in s.words],
                    }
                )
                for s in result.segments
            ]
            result = result.model_copy(update={"segments": moved})
        return original(result, duration_s)

    patch.setattr(shared.transcripts.stitching._WindowWords, "owned", staticmethod(shifted))


BROKEN: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "drop a seam's words": _drop_words_after_one_seam,
    "keep the overlap twice": _keep_the_overlap_twice,
    "shift a window by 1 s": _shift_one_window,
}


@pytest.fixture(params=sorted(BROKEN))
def broken(request: pytest.FixtureRequest) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        BROKEN[request.param](patch)
        yield request.param


@pytest.mark.parametrize("case", ["long-short", "long-dense", "long-production"])
def test_a_broken_stitcher_fails_the_exact_checks(broken: str, case: str) -> None:
    assert exact_problems(case, stitched_words(case)) != [], f"'{broken}' went unnoticed"


@pytest.mark.parametrize("case", ["long-short", "long-dense"])
def test_a_broken_stitcher_fails_the_end_to_end_tolerances(broken: str, case: str) -> None:
    comparison: Comparison = compare(stitched_words(case), single_pass(case))
    assert problems(comparison, seams(case), E2E_TOLERANCES) != [], f"'{broken}' passed: {comparison.summary()}"
