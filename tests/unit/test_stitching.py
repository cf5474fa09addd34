import random
from collections.abc import Callable, Sequence

import pytest

from shared.contracts import Segment, SegmentResult, Window, Word
from shared.transcripts.stitching import stitch
from shared.transcripts.windows import plan_windows

# Two windows over a 20 s file, keep ranges [0, 10) and [10, 20], 2 s of overlap each side of the seam.
W0 = Window(index=0, start_s=0.0, end_s=12.0, keep_start_s=0.0, keep_end_s=10.0)
W1 = Window(index=1, start_s=8.0, end_s=20.0, keep_start_s=10.0, keep_end_s=20.0)

Spoken = tuple[float, float, str]


def word(start: float, end: float, text: str, probability: float = 0.9) -> Word:
    return Word(start=start, end=end, word=text, probability=probability)


def segment(words: Sequence[Word], text: str | None = None, avg_logprob: float | None = -0.3) -> Segment:
    joined = "".join(w.word for w in words)
    return Segment(
        start=words[0].start,
        end=words[-1].end,
        text=joined if text is None else text,
        words=list(words),
        avg_logprob=avg_logprob,
        no_speech_prob=0.01,
    )


def wordless(start: float, end: float, text: str) -> Segment:
    return Segment(start=start, end=end, text=text, words=[])


def result(window: Window, segments: Sequence[Segment], job_id: str = "job-1") -> SegmentResult:
    return SegmentResult(
        job_id=job_id,
        index=window.index,
        window=window,
        language="en",
        segments=list(segments),
        model="tiny.en",
        device="cpu",
        compute_type="int8",
        decode_s=0.1,
        transcribe_s=1.0,
        worker_id="w1",
    )


def hear(
    window: Window,
    spoken: Sequence[Spoken],
    *,
    probability: float = 0.9,
    shift: Callable[[int], float] = lambda i: 0.0,
    per_segment: int = 5,
) -> SegmentResult:
    """What a worker returns for ``window``: the words wholly inside its audio, in segments of a few words that
    also end at a full stop, with each word's times moved by ``shift(i)`` (its own timing of the word)."""
    heard = [
        word(round(s + shift(i), 3), round(e + shift(i), 3), t, probability)
        for i, (s, e, t) in enumerate(spoken)
        if window.start_s <= s and e <= window.end_s
    ]
    segments: list[Segment] = []
    current: list[Word] = []
    for w in heard:
        current.append(w)
        if len(current) == per_segment or w.word.endswith("."):
            segments.append(segment(current))
            current = []
    if current:
        segments.append(segment(current))
    return result(window, segments)


def all_words(segments: Sequence[Segment]) -> list[Word]:
    return [w for seg in segments for w in seg.words]


def assert_monotonic(segments: Sequence[Segment]) -> None:
    starts = [s.start for s in segments]
    assert starts == sorted(starts)
    assert all(s.end >= s.start for s in segments)
    word_starts = [w.start for w in all_words(segments)]
    assert word_starts == sorted(word_starts)
    assert all(w.end >= w.start for w in all_words(segments))


def steady_speech(until: float = 20.0) -> list[Spoken]:
    """A word every 0.5 s (0.4 s long), a sentence every 7 words."""
    spoken = []
    t, i = 0.1, 0
    while t + 0.4 <= until:
        spoken.append((round(t, 3), round(t + 0.4, 3), f" w{i}" + ("." if i % 7 == 6 else "")))
        t, i = t + 0.5, i + 1
    return spoken


def test_overlapping_duplicated_words_are_kept_exactly_once() -> None:
    spoken = steady_speech()
    segments, text = stitch([hear(W0, spoken), hear(W1, spoken)], 20.0)
    assert [(w.start, w.end, w.word) for w in all_words(segments)] == spoken
    assert text == "".join(t for _, _, t in spoken).strip()
    assert text == " ".join(s.text for s in segments)
    assert_monotonic(segments)


def test_words_in_the_overlap_come_from_the_window_that_owns_them() -> None:
    spoken = steady_speech()
    left, right = hear(W0, spoken, probability=0.1), hear(W1, spoken, probability=0.7)
    segments, _ = stitch([right, left], 20.0)  # order of arrival does not matter
    for w in all_words(segments):
        assert w.probability == (0.1 if (w.start + w.end) / 2 < 10.0 else 0.7)


def test_a_word_straddling_the_seam_is_kept_once_by_the_side_holding_its_midpoint() -> None:
    straddling = [(9.0, 9.5, " over"), (9.8, 10.4, " the"), (10.5, 10.9, " seam.")]
    left = result(W0, [segment([word(*straddling[0], 0.1), word(*straddling[1], 0.1)])])
    right = result(W1, [segment([word(*s, 0.7) for s in straddling])])
    segments, text = stitch([left, right], 20.0)
    assert text == "over the seam."
    assert [(w.word, w.probability) for w in all_words(segments)] == [(" over", 0.1), (" the", 0.7), (" seam.", 0.7)]


def test_a_seam_word_timed_into_both_windows_is_kept_once() -> None:
    # Each window puts the midpoint of " seam" on its own side of 10.0: the midpoint rule alone keeps it twice.
    left = result(W0, [segment([word(9.4, 9.8, " the"), word(9.9, 10.08, " seam")])])
    right = result(W1, [segment([word(9.95, 10.1, " seam"), word(10.2, 10.6, " again.")])])
    segments, text = stitch([left, right], 20.0)
    assert text == "the seam again."
    assert [w.word for w in all_words(segments)] == [" the", " seam", " again."]


def test_a_seam_word_timed_out_of_both_windows_is_not_lost() -> None:
    # Each window puts the midpoint of " seam" on the other's side: the midpoint rule alone drops it.
    left = result(W0, [segment([word(9.4, 9.8, " the"), word(9.95, 10.1, " seam")])])
    right = result(W1, [segment([word(9.9, 10.08, " seam"), word(10.2, 10.6, " again.")])])
    segments, text = stitch([left, right], 20.0)
    assert text == "the seam again."
    assert_monotonic(segments)


def test_a_word_said_twice_at_the_seam_stays_twice() -> None:
    no_no = [(9.6, 9.8, " no"), (9.9, 10.1, " no."), (10.3, 10.6, " Fine.")]
    _, text = stitch([hear(W0, no_no), hear(W1, no_no, shift=lambda i: 0.02)], 20.0)
    assert text == "no no. Fine."


def test_a_segment_cut_by_the_seam_keeps_only_its_own_words() -> None:
    left = result(
        W0, [segment([word(8.6, 9.0, " Half"), word(9.1, 9.6, " of"), word(10.2, 10.5, " this")], avg_logprob=-0.5)]
    )
    right = result(W1, [segment([word(10.7, 11.0, " next.")])])  # heard from 10.7: no hole to fill
    segments, text = stitch([left, right], 20.0)
    assert text == "Half of next."
    first = segments[0]
    assert (first.start, first.end, first.text, first.avg_logprob) == (8.6, 9.6, "Half of", -0.5)


def test_words_only_the_left_window_heard_after_the_seam_are_kept() -> None:
    """The right window skipped its first seconds (Whisper does, when its audio starts mid-word): the words the
    left window heard in the overlap are kept from it, and what the right heard continues after them."""
    spoken = [(9.0, 9.5, " Please"), (9.6, 10.0, " find"), (10.1, 10.4, " a"), (10.5, 10.9, " seat")]
    spoken.append((11.0, 11.3, " and"))
    later = [(11.4, 11.7, " turn"), (11.8, 12.3, " off.")]
    left = hear(W0, [*spoken, *later])  # its audio ends at 12.0: "off." is not in it
    right = hear(W1, later)  # heard nothing before 11.4
    segments, text = stitch([left, right], 20.0)
    assert text == "Please find a seat and turn off."
    assert_monotonic(segments)


def test_words_only_the_right_window_heard_before_the_seam_are_kept() -> None:
    before = [(8.2, 8.5, " We"), (8.6, 8.9, " saw")]
    missed = [(9.0, 9.4, " the"), (9.5, 9.9, " bird.")]
    left = hear(W0, before)  # stopped hearing at 8.9
    right = hear(W1, [*before, *missed, (10.2, 10.6, " Then")])
    _, text = stitch([left, right], 20.0)
    assert text == "We saw the bird. Then"


@pytest.mark.parametrize(
    ("right_first", "kept"),
    [
        ((11.1, 11.4, " this"), "Half this"),  # the right window heard the same word 0.9 s later: not twice
        ((11.4, 11.7, " this"), "Half this this"),  # 1.2 s later it is another "this"
        ((10.6, 10.9, " that"), "Half that"),  # 0.6 s of nothing is not a hole: the midpoint rule stands
        ((11.2, 11.5, " is"), "Half this is"),  # a hole of 1.2 s, and another word: the left's word is kept
    ],
)
def test_a_hole_is_filled_only_when_the_other_window_heard_a_different_word(
    right_first: tuple[float, float, str], kept: str
) -> None:
    left = result(W0, [segment([word(8.6, 9.0, " Half"), word(10.2, 10.5, " this")])])
    right = result(W1, [segment([word(*right_first)])])
    assert stitch([left, right], 20.0)[1] == kept


def test_a_word_cut_off_by_the_end_of_the_window_is_not_used_to_fill_a_hole() -> None:
    left = result(W0, [segment([word(9.0, 9.5, " Go"), word(10.2, 10.6, " on"), word(11.7, 11.95, " tur")])])
    right = result(W1, [segment([word(13.0, 13.4, " Yes.")])])
    assert stitch([left, right], 20.0)[1] == "Go on Yes."


def test_a_sentence_cut_at_the_seam_is_one_segment_again() -> None:
    left = result(
        W0, [segment([word(1.0, 1.5, " Hello.")]), segment([word(9.0, 9.4, " The"), word(9.5, 9.9, " quick")])]
    )
    right = result(
        W1, [segment([word(10.1, 10.5, " brown"), word(10.6, 11.0, " fox.")]), segment([word(12, 13, " Hi")])]
    )
    segments, text = stitch([left, right], 20.0)
    assert [s.text for s in segments] == ["Hello.", "The quick brown fox.", "Hi"]
    assert (segments[1].start, segments[1].end, len(segments[1].words)) == (9.0, 11.0, 4)
    assert text == "Hello. The quick brown fox. Hi"


def test_a_whisper_segment_straddling_the_seam_in_both_windows_reads_as_one() -> None:
    spoken = [(8.5, 8.9, " the"), (9.0, 9.4, " quick"), (9.5, 9.9, " brown"), (10.1, 10.5, " fox"), (10.6, 11, " ran.")]
    left = result(W0, [segment([word(*s) for s in spoken[:4]])])  # Whisper's own segment runs past the seam
    right = result(W1, [segment([word(*s) for s in spoken[2:]])])
    segments, _ = stitch([left, right], 20.0)
    assert [s.text for s in segments] == ["the quick brown fox ran."]
    assert [w.word for w in segments[0].words] == [t for _, _, t in spoken]


@pytest.mark.parametrize(
    ("earlier", "later_start", "merged"),
    [
        (" Stop.", 10.1, False),  # sentence ended
        (' He said "stop?"', 10.1, False),  # sentence ended inside closing quotes
        (" and then", 11.5, False),  # a pause of 1.6 s: not one sentence
        (" and then", 10.1, True),
    ],
)
def test_seam_repair_needs_an_open_sentence_and_a_short_gap(earlier: str, later_start: float, merged: bool) -> None:
    left = result(W0, [wordless(8.0, 9.9, earlier)])
    right = result(W1, [wordless(later_start, later_start + 1.0, "more.")])
    segments, _ = stitch([left, right], 20.0)
    assert len(segments) == (1 if merged else 2)
    if merged:
        assert segments[0].text == "and then more." and (segments[0].start, segments[0].end) == (8.0, 11.1)


def test_segments_without_word_times_are_kept_by_their_midpoint() -> None:
    left = result(W0, [wordless(2.0, 4.0, " One."), wordless(9.0, 10.6, " Two."), wordless(11.0, 12.0, " Three.")])
    right = result(W1, [wordless(9.1, 10.7, " Two."), wordless(11.0, 12.0, " Three."), wordless(15, 16, " Four.")])
    segments, text = stitch([left, right], 20.0)
    assert text == "One. Two. Three. Four."
    assert [s.start for s in segments] == [2.0, 9.0, 11.0, 15.0]


def test_inverted_word_times_at_a_seam_are_clamped() -> None:
    left = result(W0, [segment([word(9.5, 9.7, " a"), word(9.9, 9.98, " b")])])
    right = result(W1, [segment([word(9.85, 10.3, " c."), word(10.4, 10.6, " d.")])])  # c starts before b
    segments, _ = stitch([left, right], 20.0)
    assert [(w.word, w.start) for w in all_words(segments)] == [(" a", 9.5), (" b", 9.9), (" c.", 9.9), (" d.", 10.4)]
    assert_monotonic(segments)


def test_words_past_the_end_belong_to_the_last_window_and_are_clamped() -> None:
    segments, text = stitch([result(W0, []), result(W1, [segment([word(19.8, 20.4, " end.")])])], 20.0)
    assert text == "end."
    assert (segments[0].start, segments[0].end, segments[0].words[0].end) == (19.8, 20.0, 20.0)


def test_empty_inputs() -> None:
    assert stitch([], 0.0) == ([], "")
    assert stitch([result(W0, []), result(W1, [])], 20.0) == ([], "")


def test_a_window_with_no_speech_between_two_with_speech() -> None:
    windows = plan_windows(90.0, window_s=30.0, overlap_s=2.0)
    spoken = [(5.0, 5.5, " Before."), (70.0, 70.5, " After.")]
    segments, text = stitch([hear(w, spoken) for w in windows], 90.0)
    assert text == "Before. After."
    assert [s.start for s in segments] == [5.0, 70.0]


def test_duplicate_results_of_a_window_are_used_once_and_other_jobs_refused() -> None:
    spoken = steady_speech()
    once, _ = stitch([hear(W0, spoken), hear(W1, spoken)], 20.0)
    twice, _ = stitch([hear(W1, spoken), hear(W0, spoken), hear(W1, spoken)], 20.0)
    assert once == twice
    with pytest.raises(ValueError, match="more than one job"):
        stitch([hear(W0, spoken), result(W1, [], job_id="job-2")], 20.0)
    with pytest.raises(ValueError, match="duration_s"):
        stitch([], -1.0)


def test_text_without_spaces_between_words_joins_without_spaces() -> None:
    left = result(W0, [segment([word(9.0, 9.4, "今日"), word(9.5, 9.9, "は")])])
    right = result(W1, [segment([word(10.1, 10.5, "いい"), word(10.6, 11.0, "天気。")])])
    _, text = stitch([left, right], 20.0)
    assert text == "今日はいい天気。"


def random_speech(rng: random.Random, duration: float) -> list[Spoken]:
    """Words of 0.15-0.6 s with short gaps and some pauses, from a tiny vocabulary so that repeats are common."""
    vocabulary = [" yes", " no", " the", " a", " well", " right."]
    spoken: list[Spoken] = []
    t = rng.uniform(0.0, 1.0)
    while True:
        length = rng.uniform(0.15, 0.6)
        if t + length > duration:
            return spoken
        spoken.append((round(t, 3), round(t + length, 3), rng.choice(vocabulary)))
        t += length + (rng.uniform(1.0, 3.0) if rng.random() < 0.05 else rng.uniform(0.0, 0.15))


def test_many_seams_with_disagreeing_word_times_keep_every_word_once() -> None:
    """Each window times each word up to 40 ms differently from the truth, as Whisper does with other context."""
    rng = random.Random(11)
    for _ in range(40):
        duration = rng.uniform(100.0, 400.0)
        spoken = random_speech(rng, duration)
        windows = plan_windows(duration, window_s=30.0, min_window_s=10.0, overlap_s=2.0)
        results = []
        for w in windows:
            offsets = [rng.uniform(-0.04, 0.04) for _ in spoken]
            results.append(hear(w, spoken, shift=offsets.__getitem__, per_segment=rng.randint(3, 12)))
        segments, text = stitch(results, duration)
        kept = all_words(segments)
        assert [w.word for w in kept] == [t for _, _, t in spoken]
        assert all(abs(w.start - s) <= 0.081 for w, (s, _, _) in zip(kept, spoken, strict=True))
        assert_monotonic(segments)
        assert text == " ".join(s.text for s in segments)
