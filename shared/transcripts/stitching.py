"""Stitching per-window transcripts into one, keeping every word exactly once.

Windows overlap (see :mod:`shared.transcripts.windows`), so the words spoken near a seam come back from both windows.
Each word is kept by the one window whose keep range ``[keep_start_s, keep_end_s)`` holds the word's midpoint:
the keep ranges partition the file, so a word timed alike by both windows is kept once, and a word straddling a
seam goes to the side that holds most of it. The first window's range is open below and the last one's open
above (Whisper sometimes stamps the last word a little past the end of the audio). The two windows time a seam
word independently, though, and may disagree by tens of milliseconds; when that puts the word on both sides (or
on neither) of the seam, the same text at overlapping times in both windows gives it away and one copy is kept.

A window can also miss speech next to its seam: Whisper given audio that starts in the middle of a word sometimes
skips ahead by seconds (the worker starts each window in a pause to avoid it, see ``worker/pre/edges.py``, but a window
without a pause in its overlap can still do it). When one window heard nothing for over a second on its side of
the seam while the other heard words there, those words are kept from the other window: they are in audio both
decoded, and nobody else will transcribe them.

A Whisper segment cut by a seam keeps only its own window's words, and the two halves of a sentence cut there
are joined again, so the transcript does not show a line break in mid-sentence at every window boundary.
Finally times are rounded to milliseconds, clamped into the file and made monotonic, because subtitle players
and customers' code assume sorted times and the two windows' estimates of a seam word can disagree slightly.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from shared.contracts import Segment, SegmentResult, Window, Word
from shared.transcripts import text as script

# Two pieces of one sentence cut by a seam are at most this far apart.
SEAM_MAX_GAP_S = 1.0
# Spanish opens a question or exclamation with these: a segment that starts with one starts a sentence.
_SENTENCE_OPENERS = "¿¡"
# Tolerance when deciding whether a keep range starts at 0 or ends at the duration (plans use a 10 ms grid).
_EDGE_TOLERANCE_S = 1e-3
# Two zero-length takes of one word are the same word when their times are this close.
_SAME_WORD_MID_TOLERANCE_S = 0.1
# A window "heard nothing" next to its seam when its first (last) word there is this far from the seam ...
HOLE_MIN_S = 1.0
# ... and the other window's words fill the hole unless the first has the same word this close: Whisper times the
# first word after a pause up to ~0.5 s apart in two windows (bench/fidelity_spread.py), so that is one word ...
_HOLE_SAME_WORD_S = 1.0
# ... and not at the very edge of the other window's audio, where a word may be cut off ("turn." for "turn off").
_HOLE_EDGE_S = 0.15


def stitch(results: Iterable[SegmentResult], duration_s: float) -> tuple[list[Segment], str]:
    """The transcript's segments, sorted and monotonic, and its full text (:func:`full_text`).

    ``results`` may come in any order; one result per window index is used (a duplicate from an at-least-once
    retry is the same window, so the first is kept). A missing window leaves a hole: the caller must make
    sure every planned window is present. This holds every result at once; the merge uses :func:`stitch_stream`.
    """
    segments = list(stitch_stream(_one_per_window(results), duration_s))
    return segments, full_text(seg.text for seg in segments)


def full_text(texts: Iterable[str]) -> str:
    """Segments' texts as one text: a space between them, none between two in a script without spaces (Chinese
    and Japanese put no space after a full stop)."""
    parts: list[str] = []
    for text in texts:
        if parts:
            parts.append(script.separator(parts[-1], text))
        parts.append(text)
    return "".join(parts)


def stitch_stream(results: Iterable[SegmentResult], duration_s: float) -> Iterator[Segment]:
    """:func:`stitch`'s segments, one at a time, from results given **in window order**, holding two windows.

    A window's words are final once both of its seams have been repaired, that is, when the next window has been
    read; its last kept segment waits one more window, in case the next window continues its sentence. So a
    10,000-window job merges in the memory of two windows. Repeats of a window index are skipped; an index out
    of order, or a result of another job, is a caller bug worth stopping for.
    """
    if not math.isfinite(duration_s) or duration_s < 0:
        raise ValueError(f"duration_s must be a non-negative number of seconds, got {duration_s!r}")
    clock = _Monotonic(duration_s)
    previous: _WindowWords | None = None
    pending: list[Segment] = []  # at most one: the last kept segment so far
    for result in _in_window_order(results):
        current = _WindowWords.owned(result, duration_s)
        if previous is not None:
            _repair_seam_words(previous, current)
            _fill_seam_holes(previous, current)
            yield from (clock.fix(seg) for seg in _settle(previous, pending))
        previous = current
    if previous is not None:
        yield from (clock.fix(seg) for seg in _settle(previous, pending))
    yield from (clock.fix(seg) for seg in pending)


def _settle(window: _WindowWords, pending: list[Segment]) -> list[Segment]:
    """The segments now final: all kept ones but the last, which stays in ``pending`` (joined with the start of a
    sentence a seam cut, as the whole-list stitch does)."""
    kept = window.kept_segments()
    if kept and pending and _is_cut_sentence(pending[-1], kept[0]):
        pending[-1] = _merge_segments(pending[-1], kept[0])
        kept = kept[1:]
    if not kept:
        return []
    final, pending[:] = [*pending, *kept[:-1]], kept[-1:]
    return final


def _in_window_order(results: Iterable[SegmentResult]) -> Iterator[SegmentResult]:
    last_index, job_id = -1, None
    for result in results:
        if job_id is not None and result.job_id != job_id:
            raise ValueError(f"results from more than one job: {sorted({job_id, result.job_id})}")
        job_id = result.job_id
        if result.index == last_index:
            continue
        if result.index < last_index:
            raise ValueError(f"window {result.index} came after window {last_index}: results must be in order")
        last_index = result.index
        yield result


def ownership_range(window: Window, duration_s: float) -> tuple[float, float]:
    """``[lo, hi)`` of midpoints this window keeps; open-ended at the start and at the end of the file."""
    lo = -math.inf if window.keep_start_s <= _EDGE_TOLERANCE_S else window.keep_start_s
    hi = math.inf if window.keep_end_s >= duration_s - _EDGE_TOLERANCE_S else window.keep_end_s
    return lo, hi


def _mid(item: Word | Segment) -> float:
    return (item.start + item.end) / 2


@dataclass
class _WindowWords:
    """One window's segments and, for each word, whether this window keeps it."""

    window: Window
    lo: float
    hi: float
    segments: list[Segment]
    keep: list[list[bool]]  # keep[i][j]: word j of segment i
    flat: list[tuple[int, int]] = field(default_factory=list)  # (segment, word) positions in reading order

    @classmethod
    def owned(cls, result: SegmentResult, duration_s: float) -> _WindowWords:
        lo, hi = ownership_range(result.window, duration_s)
        segments = sorted(result.segments, key=lambda s: s.start)
        keep = [[lo <= _mid(w) < hi for w in seg.words] for seg in segments]
        flat = [(i, j) for i, seg in enumerate(segments) for j in range(len(seg.words))]
        return cls(result.window, lo, hi, segments, keep, flat)

    def word(self, position: tuple[int, int]) -> Word:
        return self.segments[position[0]].words[position[1]]

    def last_kept(self) -> tuple[int, int] | None:
        return next((p for p in reversed(self.flat) if self.keep[p[0]][p[1]]), None)

    def first_kept(self) -> tuple[int, int] | None:
        return next((p for p in self.flat if self.keep[p[0]][p[1]]), None)

    def first_after_range(self) -> tuple[int, int] | None:
        return next((p for p in self.flat if _mid(self.word(p)) >= self.hi), None)

    def last_before_range(self) -> tuple[int, int] | None:
        return next((p for p in reversed(self.flat) if _mid(self.word(p)) < self.lo), None)

    def kept_segments(self) -> list[Segment]:
        return [seg for i, s in enumerate(self.segments) if (seg := _keep_part(s, self.keep[i], self.lo, self.hi))]


def _repair_seam_words(left: _WindowWords, right: _WindowWords) -> None:
    """Fix the one word at a seam that the midpoint rule can keep twice or lose.

    The two windows time the same word independently and may disagree by tens of milliseconds; for a word whose
    midpoint is that close to the seam, each window can put it on its own side (kept twice) or on the other's
    (kept by neither). Both cases are recognised by the same text at overlapping times in the two windows.
    """
    if abs(left.window.keep_end_s - right.window.keep_start_s) > _EDGE_TOLERANCE_S:
        return  # not neighbours (a window is missing): nothing to compare
    left_kept, right_kept = left.last_kept(), right.first_kept()
    left_past, right_before = left.first_after_range(), right.last_before_range()
    same_kept = left_kept and right_kept and _same_word(left.word(left_kept), right.word(right_kept))
    if (
        left_past
        and right_before
        and _same_word(left.word(left_past), right.word(right_before))
        and not (right_kept and _same_word(left.word(left_past), right.word(right_kept)))
        and not (left_kept and _same_word(left.word(left_kept), right.word(right_before)))
    ):
        left.keep[left_past[0]][left_past[1]] = True  # each side gave it to the other: keep the left's copy
    if same_kept and right_kept:
        right.keep[right_kept[0]][right_kept[1]] = False  # both sides kept it: keep the left's copy


def _fill_seam_holes(left: _WindowWords, right: _WindowWords) -> None:
    """Keep words that only one window heard next to the seam, because the other skipped that stretch."""
    if abs(left.window.keep_end_s - right.window.keep_start_s) > _EDGE_TOLERANCE_S:
        return
    seam = right.window.keep_start_s
    left_words = [(p, left.word(p)) for p in left.flat]
    right_words = [(p, right.word(p)) for p in right.flat]
    heard_after = next((w.start for _, w in right_words if w.end > seam), right.window.end_s)
    if heard_after - seam >= HOLE_MIN_S:
        for (i, j), w in left_words:
            if seam <= _mid(w) < heard_after and w.end <= left.window.end_s - _HOLE_EDGE_S:
                left.keep[i][j] = left.keep[i][j] or not _heard_by(w, right_words)
    heard_before = next((w.end for _, w in reversed(left_words) if w.start < seam), left.window.start_s)
    if seam - heard_before >= HOLE_MIN_S:
        for (i, j), w in right_words:
            if heard_before < _mid(w) < seam and w.start >= right.window.start_s + _HOLE_EDGE_S:
                right.keep[i][j] = right.keep[i][j] or not _heard_by(w, left_words)


def _heard_by(word: Word, others: Sequence[tuple[tuple[int, int], Word]]) -> bool:
    """Whether the other window has this word too, timed up to a second apart (the first word after a pause)."""
    letters = _letters(word.word)
    return any(_letters(w.word) == letters and abs(_mid(w) - _mid(word)) <= _HOLE_SAME_WORD_S for _, w in others)


def _same_word(a: Word, b: Word) -> bool:
    """The same spoken word as heard by two windows: equal letters, and times overlapping by half the shorter."""
    if _letters(a.word) != _letters(b.word):
        return False
    overlap = min(a.end, b.end) - max(a.start, b.start)
    shortest = min(a.end - a.start, b.end - b.start)
    if shortest <= 0:
        return abs(_mid(a) - _mid(b)) <= _SAME_WORD_MID_TOLERANCE_S
    return overlap >= 0.5 * shortest


def _letters(word: str) -> str:
    """Case, punctuation and Unicode form differ between two windows' takes of a word (``dog,`` / ``Dog.``,
    ``Straße`` / ``STRASSE``, ``ü`` composed or as ``u`` + U+0308): NFKC, then case folding (ß is ss), then the
    letters, digits and combining marks (a Hindi vowel sign tells two words apart)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", word).casefold())
    letters = "".join(ch for ch in folded if _kept_char(ch))
    return letters or word.strip()


def _kept_char(char: str) -> bool:
    """Letters, digits and combining marks: a Devanagari vowel sign or a decomposed umlaut is part of the word."""
    return unicodedata.category(char)[0] in "LNM"


def _keep_part(segment: Segment, keep: Sequence[bool], lo: float, hi: float) -> Segment | None:
    """The kept part of ``segment``; ``None`` when nothing is left.

    A segment without word timestamps is kept or dropped whole, by its own midpoint. One whose words are all kept
    keeps Whisper's own text and times; otherwise start, end and text come from the kept words.
    """
    if not segment.words:
        text = segment.text.strip()
        return segment.model_copy(update={"text": text}) if lo <= _mid(segment) < hi and text else None
    words = [w for w, k in zip(segment.words, keep, strict=True) if k]
    if not words:
        return None
    if len(words) == len(segment.words):
        text = segment.text.strip() or _words_text(words)
        return segment.model_copy(update={"text": text}) if text else None
    text = _words_text(words)
    if not text:
        return None
    return segment.model_copy(update={"start": words[0].start, "end": words[-1].end, "text": text, "words": words})


def _is_cut_sentence(earlier: Segment, later: Segment) -> bool:
    """Whether two segments either side of a seam read as one sentence cut in two."""
    if script.ends_sentence(earlier.text, earlier.language) or later.text.lstrip().startswith(tuple(_SENTENCE_OPENERS)):
        return False
    return later.start - earlier.end < SEAM_MAX_GAP_S


def _merge_segments(earlier: Segment, later: Segment) -> Segment:
    """One segment from two; scores are averaged weighted by duration (a proxy for how much each covers)."""
    if earlier.words and later.words:
        text = _words_text([*earlier.words, *later.words])  # each word carries its own space, or none
    else:
        text = script.join(earlier.text, later.text)
    weights = (max(earlier.end - earlier.start, 0.0), max(later.end - later.start, 0.0))
    major = earlier if weights[0] >= weights[1] else later  # a seam rarely cuts where the language changes
    return Segment(
        start=min(earlier.start, later.start),
        end=max(earlier.end, later.end),
        text=text,
        words=[*earlier.words, *later.words],
        avg_logprob=_weighted(earlier.avg_logprob, later.avg_logprob, weights),
        no_speech_prob=_weighted(earlier.no_speech_prob, later.no_speech_prob, weights),
        language=major.language,
        language_probability=major.language_probability,
    )


def _words_text(words: Sequence[Word]) -> str:
    """Text of consecutive words: Whisper words carry their own leading space (none in CJK scripts)."""
    return "".join(w.word for w in words).strip()


def _weighted(a: float | None, b: float | None, weights: tuple[float, float]) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    wa, wb = weights
    if wa + wb <= 0:
        return (a + b) / 2
    return (a * wa + b * wb) / (wa + wb)


def _one_per_window(results: Iterable[SegmentResult]) -> list[SegmentResult]:
    """Results in window order, one per index; results of another job are a caller bug worth stopping for."""
    by_index: dict[int, SegmentResult] = {}
    job_ids: set[str] = set()
    for result in results:
        job_ids.add(result.job_id)
        by_index.setdefault(result.index, result)
    if len(job_ids) > 1:
        raise ValueError(f"results from more than one job: {sorted(job_ids)}")
    return [by_index[i] for i in sorted(by_index)]


class _Monotonic:
    """Times rounded to ms, clamped into ``[0, duration_s]``, every start ≥ the previous start, end ≥ start.

    Words and segments are two separate chains: a word never starts before the previous word, a segment never
    before the previous segment. Stateful, so segments can pass through one at a time.
    """

    def __init__(self, duration_s: float) -> None:
        self.duration_s = duration_s
        self.last_word_start = 0.0
        self.last_segment_start = 0.0

    def _clamp(self, t: float) -> float:
        return min(max(round(t, 3), 0.0), self.duration_s)

    def fix(self, seg: Segment) -> Segment:
        words: list[Word] = []
        for w in seg.words:
            start = max(self._clamp(w.start), self.last_word_start)
            end = max(self._clamp(w.end), start)
            self.last_word_start = start
            words.append(w if (start, end) == (w.start, w.end) else w.model_copy(update={"start": start, "end": end}))
        start = max(self._clamp(seg.start), self.last_segment_start)
        end = max(self._clamp(seg.end), start)
        self.last_segment_start = start
        return seg.model_copy(update={"start": start, "end": end, "words": words})
