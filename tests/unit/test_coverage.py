"""Speech left without words is found, decoded again, merged in order, and reported when still empty.

The pure parts (:mod:`worker.post.coverage`) are checked on hand-made spans and words; the loop around them
(``Transcriber.transcribe``) with the real VAD on real speech and a decoder replaced by one that answers from the
reference: it can be made to drop clips, so what the transcriber does with a lost utterance is seen exactly, without
the model's numerics in the way.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from shared.contracts import Segment, Span, Window, Word
from tests.support.real_speech import Utterance, recording
from worker.engines.whisper import Transcriber
from worker.post.coverage import CONTEXT_S, MAX_WORDLESS_S, fill, redo_clips, uncovered


def words_at(*times: tuple[float, float], text: str = "word") -> list[Word]:
    return [Word(start=a, end=b, word=f" {text}", probability=0.9) for a, b in times]


def segment(*times: tuple[float, float], text: str = "word", no_speech: float = 0.0, logprob: float = -0.2) -> Segment:
    ws = words_at(*times, text=text)
    return Segment(
        start=ws[0].start,
        end=ws[-1].end,
        text=" ".join([text] * len(ws)),
        words=ws,
        avg_logprob=logprob,
        no_speech_prob=no_speech,
    )


def test_a_span_without_words_is_uncovered_whole() -> None:
    spans = [Span(start=0.0, end=3.0), Span(start=5.0, end=8.0)]
    assert uncovered(spans, [segment((0.5, 0.9), (1.0, 2.6))]) == [Span(start=5.0, end=8.0)]


def test_a_wordless_stretch_inside_a_span_is_uncovered_and_a_short_one_is_not() -> None:
    spans = [Span(start=0.0, end=20.0)]
    heard = [segment((0.4, 1.0), (1.2, 2.0)), segment((6.0, 6.5), (7.5, 8.0)), segment((19.0, 19.6))]
    # 2.0-6.0 and 8.0-19.0 are longer than MAX_WORDLESS_S; 6.5-7.5 and the edges are not
    assert uncovered(spans, heard) == [Span(start=2.0, end=6.0), Span(start=8.0, end=19.0)]
    assert MAX_WORDLESS_S < 4.0


def test_words_of_another_span_do_not_cover_this_one() -> None:
    spans = [Span(start=0.0, end=2.0), Span(start=2.5, end=4.0)]
    assert uncovered(spans, [segment((0.2, 1.9))]) == [Span(start=2.5, end=4.0)]


def test_redo_clips_add_context_and_join_neighbours_up_to_thirty_seconds() -> None:
    gaps = [Span(start=1.0, end=2.0), Span(start=2.5, end=4.0), Span(start=10.0, end=12.0), Span(start=12.5, end=40.0)]
    clips = redo_clips(gaps, duration_s=40.1)
    assert clips == [
        Span(start=1.0 - CONTEXT_S, end=4.0 + CONTEXT_S),  # 0.5 s apart: one clip
        Span(start=10.0 - CONTEXT_S, end=12.0 + CONTEXT_S),  # joined with the next it would pass 30 s
        Span(start=12.5 - CONTEXT_S, end=40.1),  # context stops at the audio's end
    ]


def test_fill_adds_the_redone_words_inside_the_gaps_in_time_order() -> None:
    first = [segment((0.0, 1.0), text="one"), segment((9.0, 10.0), text="three")]
    gaps = [Span(start=4.0, end=6.0)]
    redone = [segment((3.6, 3.9), (4.2, 4.8), (5.1, 5.7), (6.1, 6.3), text="two")]  # context words at both ends
    merged = fill(first, redone, gaps)
    assert [s.text for s in merged] == ["one", "two two", "three"]
    assert [(w.start, w.end) for w in merged[1].words] == [(4.2, 4.8), (5.1, 5.7)]
    assert merged[1].start == 4.2 and merged[1].end == 5.7


def test_fill_drops_what_whisper_itself_rates_as_no_speech() -> None:
    gaps = [Span(start=0.0, end=2.0)]
    cough = segment((0.5, 1.0), text="Thank", no_speech=0.9, logprob=-1.4)
    quiet_but_sure = segment((0.5, 1.0), text="yes", no_speech=0.9, logprob=-0.3)
    assert fill([], [cough], gaps) == []
    assert [s.text for s in fill([], [quiet_but_sure], gaps)] == ["yes"]


# --- the loop in Transcriber, with the real VAD on real speech and a decoder that answers from the reference ---


@cache
def real() -> tuple[Any, list[Utterance]]:
    samples, utterances = recording()
    first = [u for u in utterances if u.end < 40.0]  # 5 utterances; cut in the pause after the last (>= 0.5 s)
    return samples[: round((first[-1].end + 0.25) * 16_000)], first


def scripted(drop: Callable[[Utterance, int], bool]) -> Transcriber:
    """A Transcriber whose decoder returns each utterance's reference words spread over its time, for every clip
    that holds the utterance's middle, unless ``drop(utterance, pass_number)`` says to lose it."""
    _, utterances = real()
    model = Transcriber.__new__(Transcriber)
    model.batch_size, model.redo_passes, model.known_languages, passes = 2, 2, ("en",), [0]

    def decode(audio: Any, clips: list[Span], language: str | None, beam: int, progress: Any, task: str = "") -> Any:
        passes[0] += 1
        out = []
        for u in utterances:
            mid = (u.start + u.end) / 2
            if any(c.start <= mid < c.end for c in clips) and not drop(u, passes[0]):
                tokens = u.reference.split()
                step = (u.end - u.start) / len(tokens)
                times = [(u.start + k * step, u.start + (k + 0.8) * step) for k in range(len(tokens))]
                ws = [
                    Word(start=a, end=b, word=f" {t}", probability=0.9) for (a, b), t in zip(times, tokens, strict=True)
                ]
                out.append(Segment(start=ws[0].start, end=ws[-1].end, text=u.reference, words=ws, avg_logprob=-0.2))
        return out, type("Info", (), {"language": "en", "language_probability": 1.0})()

    model._pass = decode  # type: ignore[method-assign]
    return model


def window(samples: Any) -> Window:
    end = len(samples) / 16_000
    return Window(index=0, start_s=0.0, end_s=end, keep_start_s=0.0, keep_end_s=end)


def test_an_utterance_a_broken_decoder_always_drops_is_reported_not_hidden() -> None:
    samples, utterances = real()
    lost = utterances[2]
    heard = scripted(lambda u, _: u is lost).transcribe(samples, window(samples), start_in_pause=False)
    assert [s.text for s in heard.segments] == [u.reference for u in utterances if u is not lost]
    assert heard.untranscribed, "a lost utterance must be reported"
    reported = sum(min(s.end, lost.end) - max(s.start, lost.start) for s in heard.untranscribed)
    assert reported >= 0.8 * (lost.end - lost.start)  # the VAD's span of it, padding aside
    assert all(s.start >= lost.start - 1.0 and s.end <= lost.end + 1.0 for s in heard.untranscribed)


def test_an_utterance_dropped_on_the_first_pass_is_decoded_again_and_put_in_its_place() -> None:
    samples, utterances = real()
    heard = scripted(lambda u, n: u is utterances[1] and n == 1).transcribe(
        samples, window(samples), start_in_pause=False
    )
    assert [s.text for s in heard.segments] == [u.reference for u in utterances]
    assert heard.untranscribed == []


def test_with_no_redo_passes_the_first_pass_losses_are_reported() -> None:
    samples, utterances = real()
    model = scripted(lambda u, n: u is utterances[1] and n == 1)
    model.redo_passes = 0
    heard = model.transcribe(samples, window(samples), start_in_pause=False)
    assert len(heard.segments) == len(utterances) - 1 and heard.untranscribed


@pytest.mark.parametrize("shift", [0.0, 3600.0])
def test_reported_stretches_are_in_absolute_time(shift: float) -> None:
    samples, utterances = real()
    end = len(samples) / 16_000
    moved = Window(index=3, start_s=shift, end_s=shift + end, keep_start_s=shift, keep_end_s=shift + end)
    heard = scripted(lambda u, _: u is utterances[0]).transcribe(samples, moved, start_in_pause=False)
    assert heard.untranscribed and all(
        shift <= s.start < s.end <= shift + utterances[0].end + 1 for s in heard.untranscribed
    )
    assert heard.segments[0].start == pytest.approx(shift + utterances[1].start, abs=1e-3)  # ms-rounded
