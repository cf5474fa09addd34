"""worker/pre/languages.py: which language each stretch of a window is decoded in, with a scripted detector.

The detector here answers as Whisper was measured to (module docstring there): a stretch of one language is
detected right; a unit holding two languages comes back as its majority language, confidently, which is exactly
what the switch refinement is for; spans detected alone (padded) come back right. Real speech through the real
model is tests/integration/test_languages_real.py.
"""

from __future__ import annotations

import pytest

from shared.contracts import Span
from worker.pre import languages
from worker.pre.languages import Stretch, detected, dominant, forced, language_at, language_clips, runs, units
from worker.pre.speech import pack

ALL = ("en", "de", "fr", "es", "pt", "zh")


class Scripted:
    """Truth by time: ``spoken`` lists (start, end, language); a unit gets its majority language by seconds."""

    def __init__(self, spoken: list[tuple[float, float, str]], sure: float = 0.97) -> None:
        self.spoken, self.sure = spoken, sure
        self.calls: list[tuple[Span, bool]] = []

    def __call__(self, span: Span, padded: bool) -> dict[str, float]:
        self.calls.append((span, padded))
        seconds: dict[str, float] = {}
        for start, end, code in self.spoken:
            overlap = min(end, span.end) - max(start, span.start)
            if overlap > 0:
                seconds[code] = seconds.get(code, 0.0) + overlap
        top = max(seconds, key=lambda c: seconds[c]) if seconds else "en"
        rest = (1 - self.sure) / (len(ALL) - 1)
        return {code: self.sure if code == top else rest for code in ALL}


def spans_every(seconds: float, count: int, length: float = 2.0) -> list[Span]:
    return [Span(start=i * seconds, end=i * seconds + length) for i in range(count)]


def test_units_last_five_seconds_and_a_short_tail_joins_the_one_before() -> None:
    spans = spans_every(2.5, 7)  # 0-2, 2.5-4.5, ... 15-17
    groups = units(spans)
    assert [len(g) for g in groups] == [3, 4]  # 0-7 (7 s) closes; 7.5-17 keeps the tail of 2 spans
    assert all(g[-1].end - g[0].start >= languages.UNIT_MIN_S for g in groups)
    assert units([Span(start=0, end=1)]) == [[Span(start=0, end=1)]]


def test_one_language_is_detected_on_units_unpadded_only() -> None:
    spans = spans_every(2.5, 8)
    detector = Scripted([(0, 30, "de")])
    stretches = detected(spans, detector, ALL)
    assert {s.language for s in stretches} == {"de"}
    assert all(not padded for _, padded in detector.calls)  # no switch: no span-by-span detection
    assert len(detector.calls) == len(units(spans))


def test_a_switch_inside_a_unit_falls_between_the_right_spans() -> None:
    """English for 0-9.5 s, then German: the second unit (7.5-17 s) is mostly German and the first all English,
    so the switch is found at the unit edge and walked back: the span at 7.5 s is English, the one at 10 s German."""
    spans = spans_every(2.5, 7)
    stretches = detected(spans, Scripted([(0, 9.6, "en"), (9.6, 30, "de")]), ALL)
    assert [s.language for s in stretches] == ["en", "en", "en", "en", "de", "de", "de"]


def test_a_switch_near_the_end_of_a_unit_moves_its_last_spans() -> None:
    """English for 0-4.8 s, then German: the first unit (0-7 s) is mostly English, so unit by unit the span at 5 s
    would be English (shown first); the refinement walks it over to German, and stops at the English span before."""
    spans = spans_every(2.5, 7)
    truth = [(0, 4.8, "en"), (4.8, 30, "de")]
    detector = Scripted(truth)
    whole = [detector(Span(start=g[0].start, end=g[-1].end), False) for g in units(spans)]
    assert [max(p, key=lambda c: p[c]) for p in whole] == ["en", "de"]
    stretches = detected(spans, Scripted(truth), ALL)
    assert [s.language for s in stretches] == ["en", "en", "de", "de", "de", "de", "de"]


def test_an_unsure_unit_follows_its_context() -> None:
    spans = spans_every(2.5, 9)  # three units
    unsure = Scripted([(0, 30, "de")])

    def detector(span: Span, padded: bool) -> dict[str, float]:
        if 7 <= span.start < 14:  # the middle unit: Portuguese at 0.3, German second at 0.25
            return {"pt": 0.3, "de": 0.25, "en": 0.2, "fr": 0.15, "es": 0.05, "zh": 0.05}
        return unsure(span, padded)

    stretches = detected(spans, detector, ALL)
    assert {s.language for s in stretches} == {"de"}
    middle = [s for s in stretches if 7 <= s.span.start < 14]
    assert middle and all(s.probability == pytest.approx(0.25) for s in middle)  # its own, honest, probability


def test_candidates_restrict_and_renormalise() -> None:
    spans = spans_every(2.5, 4)
    stretches = detected(spans, Scripted([(0, 30, "pt")], sure=0.6), ["es", "en"])
    assert {s.language for s in stretches} <= {"es", "en"}
    assert all(s.probability is not None and 0 < s.probability <= 1 for s in stretches)


def test_forced_runs_clips_and_dominant() -> None:
    spans = spans_every(2.5, 6)
    assert {s.language for s in forced(spans, "fr")} == {"fr"}
    stretches = [Stretch(sp, "en" if i < 2 else "de", 0.9) for i, sp in enumerate(spans)]
    assert [[s.language for s in run] for run in runs(stretches)] == [["en", "en"], ["de"] * 4]
    clips = language_clips(stretches, pack)
    assert [code for code, _ in clips] == ["en", "de"]
    assert clips[0][1] == Span(start=0.0, end=4.5) and clips[1][1] == Span(start=5.0, end=14.5)
    assert dominant(stretches) == ("de", 0.9)
    assert dominant(forced(spans, "fr")) == ("fr", None)
    assert dominant([]) == (None, None)


def test_language_at_prefers_overlap_then_nearness() -> None:
    stretches = [Stretch(Span(start=0, end=2), "en", 0.8), Stretch(Span(start=5, end=7), "de", 0.9)]
    assert language_at(Span(start=1.5, end=5.2), stretches, None) == ("en", 0.8)
    assert language_at(Span(start=4.0, end=4.5), stretches, None) == ("de", 0.9)
    assert language_at(Span(start=0, end=1), [], "fr") == ("fr", None)
