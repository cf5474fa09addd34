"""The repetition-loop guard (worker/post/repetition.py) on crafted segments: what a looping Whisper returns, and
speech.

The loops are the shapes Whisper produces when it locks onto a few tokens: a word pair to the end of the chunk
("en séce en séce ..."), a short sentence the batched path then cuts into many one-sentence segments, a loop after
real words in the same segment. Speech with restarts and short repeats must come back untouched, as the same objects.
"""

from __future__ import annotations

import logging

import pytest

from shared.contracts import Segment, Word
from shared.telemetry.logs import log_context
from worker.post.repetition import (
    COMPRESSION_RATIO_LIMIT,
    compression_ratio,
    find_loops,
    normalise,
    remove_loops,
)


def segment(text: str, start: float, step: float = 0.4) -> Segment:
    """A segment of ``text``'s words, one every ``step`` seconds from ``start``, as the worker writes them."""
    words = [
        Word(
            start=round(start + k * step, 3), end=round(start + k * step + step * 0.8, 3), word=" " + w, probability=0.5
        )
        for k, w in enumerate(text.split())
    ]
    return Segment(
        start=words[0].start, end=words[-1].end, text=text, words=words, avg_logprob=-0.4, no_speech_prob=0.1
    )


def texts(segments: list[Segment]) -> list[str]:
    return [s.text for s in segments]


SPEECH = [
    segment("The old red barn stood at the edge of the farm.", 0.0),
    segment("No, no, no, no, he said, and then no again.", 5.0),
    segment("Please close the tap because a small leak can run, because a small leak can waste water.", 10.0),
    segment("Ha ha ha, that was a good one.", 18.0),
]


def test_speech_with_restarts_and_short_repeats_is_left_alone() -> None:
    assert find_loops([w.word for s in SPEECH for w in s.words]) == []
    kept = remove_loops(SPEECH)
    assert all(a is b for a, b in zip(kept, SPEECH, strict=True))  # the same objects: unchanged to the byte


def test_a_word_pair_looping_to_the_end_of_the_chunk_is_cut_to_one() -> None:
    # What the issue saw: 28 s of "en séce en séce ...", after real words, in one segment.
    looped = segment("His dog liked to help him " + "en séce " * 35, 30.0, step=0.4)
    [kept] = remove_loops([SPEECH[0], looped])[1:]
    assert kept.text == "His dog liked to help him en séce"
    assert kept.end == pytest.approx(30.0 + 7 * 0.4 + 0.32)  # the first "séce" ends it; the 27 s after are gone
    assert [w.word for w in kept.words] == [w.word for w in looped.words[:8]]


def test_a_sentence_loop_across_many_segments_keeps_the_first() -> None:
    # The batched path cuts a chunk into sentences: a looping "Thank you for watching." becomes 9 segments.
    loop = [segment("Thank you for watching.", 40.0 + 2 * k) for k in range(9)]
    kept = remove_loops([*SPEECH[:2], *loop, segment("The next meeting is in two weeks.", 60.0)])
    assert texts(kept) == [*texts(SPEECH[:2]), "Thank you for watching.", "The next meeting is in two weeks."]


def test_case_and_punctuation_do_not_hide_a_loop() -> None:
    words = ["Séce,", "en", "séce.", "En", "séce", "en", "SÉCE!"] + ["en", "séce"] * 5
    [loop] = find_loops(words)
    assert (loop.start, loop.unit, loop.repeats) == (0, 2, 8)  # "Séce, en" x 8: all 17 words but the last
    assert normalise(" Séce,") == normalise("séce") == "séce"


def test_one_word_loop_needs_a_dozen() -> None:
    assert find_loops(["the"] * 11) == []
    [loop] = find_loops(["the"] * 12)
    assert (loop.unit, loop.repeats) == (1, 12)


def test_the_longest_loop_wins_where_two_overlap() -> None:
    words = ["a", "b"] * 6 + ["c", "d", "e", "f"] + ["x", "y", "z", "w"] * 6
    loops = find_loops(words)
    assert [(lp.start, lp.unit, lp.repeats) for lp in loops] == [(0, 2, 6), (16, 4, 6)]


def test_repetition_that_is_not_back_to_back_is_dropped_by_its_compression_ratio() -> None:
    # Two sentences in the Thue-Morse order (cube-free: no unit ever repeats three times back to back), what a model
    # stuck between two phrases writes: no loop to cut, but far more repetitive than speech, so the segment goes.
    a, b = "the water tank is behind the shed", "bring a dish and a chair to sit on"
    order = [bin(k).count("1") % 2 for k in range(24)]
    text = " ".join(b if bit else a for bit in order)
    stuck = segment(text, 70.0, step=0.1)
    assert find_loops(text.split()) == []
    assert compression_ratio(text) > COMPRESSION_RATIO_LIMIT
    assert remove_loops([SPEECH[0], stuck]) == [SPEECH[0]]


def test_every_cut_is_logged_with_its_job(caplog: pytest.LogCaptureFixture) -> None:
    looped = segment("en séce " * 20, 30.0)
    with caplog.at_level(logging.WARNING, logger="worker.post.repetition"), log_context(job_id="job-14", segment=3):
        remove_loops([looped])
    [record] = caplog.records
    assert "job_id=job-14 index=3" in record.getMessage() and "20 times" in record.getMessage()
