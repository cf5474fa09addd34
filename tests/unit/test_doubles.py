"""worker/post/doubles.py: a word Whisper wrote twice over the same audio is kept once; different words are kept."""

from __future__ import annotations

from shared.contracts import Segment, Word
from worker.post.doubles import drop_doubled_words


def segment(*spoken: tuple[str, float, float]) -> Segment:
    words = [Word(word=f" {w}", start=s, end=e, probability=0.9) for w, s, e in spoken]
    return Segment(start=words[0].start, end=words[-1].end, text=" ".join(w for w, _, _ in spoken), words=words)


def test_the_same_word_over_the_same_audio_is_kept_once() -> None:
    kept = drop_doubled_words(
        [segment(("help,", 26.0, 26.6), ("please", 26.67, 27.43)), segment(("Please", 27.0, 27.26))]
    )
    assert [w.word for s in kept for w in s.words] == [" help,", " please"]


def test_a_word_said_twice_at_two_times_is_kept_twice() -> None:
    kept = drop_doubled_words([segment(("no", 1.0, 1.3)), segment(("no", 1.4, 1.7))])
    assert len([w for s in kept for w in s.words]) == 2


def test_words_that_differ_only_by_a_combining_mark_are_two_words() -> None:
    """Hindi कम ("less") and कमी ("lack") differ by the vowel sign ी (a combining mark): not a doubled word."""
    kept = drop_doubled_words([segment(("कम", 2.0, 2.4)), segment(("कमी", 2.1, 2.4))])
    assert [w.word.strip() for s in kept for w in s.words] == ["कम", "कमी"]
    same = drop_doubled_words([segment(("कमी", 2.0, 2.4)), segment(("कमी", 2.1, 2.4))])
    assert [w.word.strip() for s in same for w in s.words] == ["कमी"]
