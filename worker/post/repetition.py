"""Cut repetition loops out of a window's segments: Whisper's way of failing on audio it cannot make out.

On damaged or odd audio (a burst of decoder garbage, noise, music) Whisper's decoder can lock onto a few tokens and
repeat them until the 30 s chunk runs out ("en séce en séce en séce ..."): text nobody said, with made-up word times.
faster-whisper's guard against this, a retry at a higher sampling temperature when the text's gzip compression ratio
exceeds 2.4 (``compression_ratio_threshold``), is not used here: sampling draws from CTranslate2's thread-local random
generator, seeded from ``std::random_device`` once per thread and never again (``set_random_seed`` only reaches
threads that have not sampled yet: CTranslate2 ``src/random.cc``), so the same window would come back with other text
on a rerun; and ``BatchedInferencePipeline`` (the workers' default) ignores the thresholds and the fallback anyway
(faster-whisper 1.2.1 ``transcribe.py``: it decodes at ``temperatures[0]`` only and never reads the thresholds). The
worker decodes at temperature 0 (beam search, deterministic) and this module removes what a loop added:

- a run of one unit of 1-:data:`MAX_UNIT_WORDS` words repeated back to back at least :data:`MIN_REPEATS` times and
  covering at least :data:`MIN_LOOP_WORDS` words keeps its first occurrence and loses the repeats (words, times and
  text), across segment boundaries (the batched path's chunks are cut into sentences, the sequential decoder cuts its
  own, so a loop of a short sentence spans many segments);
- a segment whose text still compresses more than :data:`COMPRESSION_RATIO_LIMIT` (faster-whisper's and OpenAI's
  threshold for "too repetitive") is dropped: repetition that is not back to back.

A person repeats a word or two ("no, no, no"), not a dozen words four times over, so speech is left alone; a segment
with nothing to cut is returned as the same object, so a clean window's output is unchanged to the byte. Each cut is
logged with the job and segment (``shared.telemetry.logs`` context) so an operator can find the audio.
"""

from __future__ import annotations

import logging
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from shared.contracts import Segment
from shared.telemetry.logs import current_log_context

logger = logging.getLogger(__name__)

MAX_UNIT_WORDS = 16  # longest repeated unit looked for: a sentence of a loop ("Thank you for watching.")
MIN_REPEATS = 3  # back-to-back occurrences of the unit; two is how people restart a phrase
MIN_LOOP_WORDS = 12  # words the run covers: "no, no, no, no" (4) is speech, 12 times "the" is not
COMPRESSION_RATIO_LIMIT = 2.4  # faster-whisper's compression_ratio_threshold, on the same measure
MIN_CHARS_FOR_RATIO = 60  # zlib's header makes a short text look incompressible; below this it is never judged


@dataclass(frozen=True)
class Loop:
    """``unit`` words repeated ``repeats`` times from word ``start`` (of the flattened word list)."""

    start: int
    unit: int
    repeats: int

    @property
    def end(self) -> int:
        return self.start + self.unit * self.repeats

    @property
    def dropped(self) -> range:
        """The repeats: every occurrence but the first."""
        return range(self.start + self.unit, self.end)


def compression_ratio(text: str) -> float:
    """UTF-8 length over zlib-compressed length: faster-whisper's ``get_compression_ratio``, so the limits agree."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def normalise(word: str) -> str:
    """A word as a loop repeats it: case, spacing and punctuation around it ignored ("Séce," == "séce")."""
    return "".join(ch for ch in word.casefold() if not unicodedata.category(ch).startswith(("P", "Z")))


def find_loops(words: Sequence[str]) -> list[Loop]:
    """The loops in ``words``, in order and not overlapping; the longest (in words covered) wins where two compete.

    For each unit length ``n``, word ``j`` repeats the one ``n`` before it when they are equal; a stretch of ``L``
    such words is a unit repeated ``L // n + 1`` times. O(len(words) x MAX_UNIT_WORDS): a window of a few thousand
    words takes milliseconds.
    """
    tokens = [normalise(w) for w in words]
    candidates: list[Loop] = []
    for n in range(1, MAX_UNIT_WORDS + 1):
        run = 0
        for j in range(n, len(tokens) + 1):
            if j < len(tokens) and tokens[j] and tokens[j] == tokens[j - n]:
                run += 1
                continue
            repeats = run // n + 1
            if repeats >= MIN_REPEATS and repeats * n >= MIN_LOOP_WORDS:
                candidates.append(Loop(start=j - run - n, unit=n, repeats=repeats))
            run = 0
    chosen: list[Loop] = []
    for loop in sorted(candidates, key=lambda c: (-c.unit * c.repeats, c.unit, c.start)):
        if all(loop.end <= other.start or other.end <= loop.start for other in chosen):
            chosen.append(loop)
    return sorted(chosen, key=lambda c: c.start)


def remove_loops(segments: list[Segment]) -> list[Segment]:
    """``segments`` without the repeats of any loop, and without segments that are still too repetitive."""
    flat = [(i, k) for i, segment in enumerate(segments) for k in range(len(segment.words))]
    loops = find_loops([segments[i].words[k].word for i, k in flat])
    dropped: set[tuple[int, int]] = set()
    for loop in loops:
        dropped.update(flat[j] for j in loop.dropped)
        _log_loop(segments, flat, loop)
    kept: list[Segment] = []
    for i, segment in enumerate(segments):
        trimmed = _without(segment, {k for j, k in dropped if j == i}) if dropped else segment
        if trimmed is not None and not _too_repetitive(trimmed):
            kept.append(trimmed)
    return kept


def _without(segment: Segment, drop: set[int]) -> Segment | None:
    """The segment less the words at ``drop``; itself when nothing is dropped, ``None`` when nothing is left."""
    words = [w for k, w in enumerate(segment.words) if k not in drop]
    return segment.with_words(words) if words else None


def _too_repetitive(segment: Segment) -> bool:
    if len(segment.text) < MIN_CHARS_FOR_RATIO:
        return False
    ratio = compression_ratio(segment.text)
    if ratio <= COMPRESSION_RATIO_LIMIT:
        return False
    job_id, index = current_log_context()
    logger.warning(
        "dropped a repetitive segment job_id=%s index=%s at %.2f-%.2f s (compression ratio %.2f > %.1f): %.80r",
        job_id,
        index,
        segment.start,
        segment.end,
        ratio,
        COMPRESSION_RATIO_LIMIT,
        segment.text,
    )
    return True


def _log_loop(segments: list[Segment], flat: list[tuple[int, int]], loop: Loop) -> None:
    first = segments[flat[loop.start][0]].words[flat[loop.start][1]]
    last = segments[flat[loop.end - 1][0]].words[flat[loop.end - 1][1]]
    unit = "".join(segments[i].words[k].word for i, k in flat[loop.start : loop.start + loop.unit]).strip()
    job_id, index = current_log_context()
    logger.warning(
        "cut a repetition loop job_id=%s index=%s at %.2f-%.2f s: %.80r %d times, kept once (%d words dropped)",
        job_id,
        index,
        first.start,
        last.end,
        unit,
        loop.repeats,
        loop.unit * (loop.repeats - 1),
    )
