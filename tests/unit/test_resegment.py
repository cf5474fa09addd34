"""Cutting the batched pipeline's chunk-long segments into sentences keeps every word, in order, with its time."""

from __future__ import annotations

from shared.contracts import Segment, Word
from worker.post.resegment import MAX_SEGMENT_S, PAUSE_S, sentences


def chunk(*spoken: tuple[str, float, float]) -> Segment:
    words = [Word(word=f" {w}", start=s, end=e, probability=0.9) for w, s, e in spoken]
    return Segment(
        start=words[0].start if words else 0.0,
        end=words[-1].end if words else 0.0,
        text="".join(w.word for w in words).strip(),
        words=words,
        avg_logprob=-0.3,
        no_speech_prob=0.01,
    )


def test_a_chunk_is_cut_after_each_sentence() -> None:
    segment = chunk(("Hello", 0.0, 0.4), ("there.", 0.4, 0.8), ("How", 1.0, 1.2), ("are", 1.2, 1.3), ("you?", 1.3, 1.6))
    pieces = sentences(segment)
    assert [p.text for p in pieces] == ["Hello there.", "How are you?"]
    assert [(p.start, p.end) for p in pieces] == [(0.0, 0.8), (1.0, 1.6)]
    assert all(p.avg_logprob == -0.3 and p.no_speech_prob == 0.01 for p in pieces)


def test_a_pause_ends_a_phrase_even_without_punctuation() -> None:
    segment = chunk(("one", 0.0, 0.3), ("two", 0.3 + PAUSE_S, 0.6 + PAUSE_S), ("three", 0.7 + PAUSE_S, 1.0 + PAUSE_S))
    assert [p.text for p in sentences(segment)] == ["one", "two three"]
    assert [p.text for p in sentences(chunk(("one", 0.0, 0.3), ("two", 0.3 + PAUSE_S - 0.05, 1.5)))] == ["one two"]


def test_a_long_sentence_is_cut_at_its_longest_pause() -> None:
    spoken = [(f"w{k}", 0.5 * k, 0.5 * k + 0.45) for k in range(40)]  # 20 s, no punctuation, 50 ms gaps
    spoken[30] = ("w30", 15.2, 15.45)  # a 0.25 s gap before w30: the longest
    pieces = sentences(chunk(*spoken))
    assert " w30" in [p.words[0].word for p in pieces]  # the first cut is at the pause
    assert len(pieces) == 3  # w0-w29 is still 14.95 s: cut once more, near its middle (equal gaps)
    assert [p.words[0].word for p in pieces] == [" w0", " w15", " w30"]
    assert all(p.end - p.start <= MAX_SEGMENT_S for p in pieces)


def test_every_word_is_kept_once_in_order_and_the_text_is_the_words() -> None:
    spoken = [(f"w{k}{'.' if k % 7 == 6 else ''}", 0.4 * k, 0.4 * k + 0.3) for k in range(60)]
    segment = chunk(*spoken)
    pieces = sentences(segment)
    assert len(pieces) > 1
    assert [w for p in pieces for w in p.words] == segment.words
    assert " ".join(p.text for p in pieces) == segment.text
    assert all(p.text == "".join(w.word for w in p.words).strip() for p in pieces)


def test_segments_without_words_pass_through() -> None:
    empty = Segment(start=1.0, end=2.0, text="", words=[])
    assert sentences(empty) == [empty]
    single = chunk(("Hi.", 0.0, 0.2))
    assert sentences(single) == [single]


def test_sentences_end_in_any_script_and_the_greek_question_mark_only_in_greek() -> None:
    arabic = chunk(("هل", 0.0, 0.3), ("أنت؟", 0.3, 0.6), ("نعم.", 0.7, 1.0))
    assert [p.text for p in sentences(arabic, "ar")] == ["هل أنت؟", "نعم."]
    hindi = chunk(("वह", 0.0, 0.3), ("आया।", 0.3, 0.6), ("फिर", 0.7, 1.0))
    assert [p.text for p in sentences(hindi, "hi")] == ["वह आया।", "फिर"]
    quoted = chunk(('"Stop."', 0.0, 0.4), ("He", 0.5, 0.7), ("left.", 0.7, 1.0))  # the closing quote after the stop
    assert [p.text for p in sentences(quoted, "en")] == ['"Stop."', "He left."]
    question = chunk(("Τι", 0.0, 0.3), ("κάνεις;", 0.3, 0.6), ("Καλά.", 0.7, 1.0))
    assert [p.text for p in sentences(question, "el")] == ["Τι κάνεις;", "Καλά."]
    assert len(sentences(chunk(("first;", 0.0, 0.3), ("second", 0.4, 0.7)), "en")) == 1  # ";" ends nothing in English
