"""Speech the decoder returned no words for, found by comparing the VAD's spans with the words' times.

Whisper decodes a clip once and may stop early (an end-of-text after the first sentences, a timestamp it does not
continue from, a repetition loop cut out afterwards): the speech after that point comes back empty, and nothing in
faster-whisper says so. The VAD already knows where the speech is, so every span is checked against the words that
came back; what has none is decoded again on its own (:mod:`worker.engines.whisper`), and what still has none after
every attempt is reported in the transcript as untranscribed, never dropped silently.

A span is uncovered where it holds no word at all, or where its words leave a stretch of more than
:data:`MAX_WORDLESS_S` without a word: at a span's edges that stretch includes the VAD's padding (0.4 s each side),
and inside a span there is no pause long enough for the VAD to split on (160 ms), so a wordless second and a half
is speech that was not transcribed, not a pause.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shared.contracts import Segment, Span, Word

MAX_WORDLESS_S = 1.5
"""Longest stretch of a speech span that may hold no word before it counts as untranscribed (see above)."""

MIN_SPAN_S = 0.2
"""An uncovered stretch shorter than this is not worth a decoder pass (a clipped breath at a span's edge)."""

CONTEXT_S = 0.3
"""A stretch decoded again is given this much audio on each side, so its first and last words are not cut."""

JOIN_S = 1.0
"""Stretches to decode again that lie this close together go in one clip (see :func:`redo_clips`)."""

NO_SPEECH_PROB = 0.6
LOGPROB_FLOOR = -1.0
"""Whisper's own rule for "nothing was said" (OpenAI's and faster-whisper's sequential defaults): a segment whose
no-speech probability is over 0.6 while its average log-probability is under -1 is dropped. The batched pipeline
never applies it; a short stretch decoded alone (a cough the VAD took for speech) is where it matters."""


def uncovered(spans: Sequence[Span], segments: Sequence[Segment]) -> list[Span]:
    """The parts of ``spans`` that ``segments``' words leave uncovered, in order. Times as in both inputs."""
    words = sorted((w for seg in segments for w in seg.words), key=lambda w: (w.start, w.end))
    gaps: list[Span] = []
    first = 0  # words ending before the current span are never looked at again
    for span in spans:
        while first < len(words) and words[first].end <= span.start:
            first += 1
        inside = [w for w in _overlapping(words, first, span)]
        gaps.extend(_wordless(span, inside))
    return [gap for gap in gaps if gap.end - gap.start >= MIN_SPAN_S]


def _overlapping(words: Sequence[Word], first: int, span: Span) -> Iterable[Word]:
    for word in words[first:]:
        if word.start >= span.end:
            return
        if word.end > span.start:
            yield word


def _wordless(span: Span, words: Sequence[Word]) -> list[Span]:
    if not words:
        return [span]
    edges = [span.start, *[t for w in words for t in (w.start, w.end)], span.end]
    gaps = []
    for begin, end in zip(edges[::2], edges[1::2], strict=True):  # (span start, first word), (word, next), ...
        if end - begin > MAX_WORDLESS_S:
            gaps.append(Span(start=max(begin, span.start), end=min(end, span.end)))
    return gaps


def redo_clips(gaps: Sequence[Span], duration_s: float, clip_s: float = 30.0) -> list[Span]:
    """The audio to decode again for ``gaps``: each gap with :data:`CONTEXT_S` on both sides, within the audio,
    and gaps that then touch or lie within :data:`JOIN_S` of each other in one clip (up to ``clip_s``).

    Every clip costs a whole encoder pass (30 s of input, however short the clip), and the stretches one early end
    leaves come in runs of neighbouring spans: joined, they cost one pass instead of several (measured on the test
    recording: 6 clips in 4.4 s, joined 3).
    """
    clips: list[Span] = []
    for gap in gaps:
        clip = Span(start=max(0.0, gap.start - CONTEXT_S), end=min(duration_s, gap.end + CONTEXT_S))
        if clips and clip.start - clips[-1].end <= JOIN_S and clip.end - clips[-1].start <= clip_s:
            clips[-1] = Span(start=clips[-1].start, end=max(clips[-1].end, clip.end))
        else:
            clips.append(clip)
    return clips


def heard(segment: Segment) -> bool:
    """False for a segment Whisper itself rates as no speech (:data:`NO_SPEECH_PROB`, :data:`LOGPROB_FLOOR`)."""
    if segment.no_speech_prob is None or segment.avg_logprob is None:
        return True
    return not (segment.no_speech_prob > NO_SPEECH_PROB and segment.avg_logprob < LOGPROB_FLOOR)


def fill(segments: Sequence[Segment], redone: Iterable[Segment], gaps: Sequence[Span]) -> list[Segment]:
    """``segments`` with the words of ``redone`` that fall in ``gaps`` (by their midpoint) added, in time order.

    A redone segment is trimmed to its words inside a gap: its other words repeat what ``segments`` already hold
    (the context each gap is decoded with). Segments keep their order by start time.
    """
    added: list[Segment] = []
    for segment in redone:
        if not heard(segment):
            continue
        kept = [w for w in segment.words if _inside((w.start + w.end) / 2, gaps)]
        if kept:
            added.append(segment.with_words(kept))
    return sorted([*segments, *added], key=lambda s: (s.start, s.end))


def _inside(t: float, gaps: Sequence[Span]) -> bool:
    return any(gap.start <= t < gap.end for gap in gaps)
