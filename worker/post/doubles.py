"""A word Whisper wrote twice across a segment boundary, over the same audio, kept once.

Decoding with timestamps, Whisper sometimes ends a segment on a word and starts the next one with the same word
again ("If you can help, please" / "Please write your name on the list"); word alignment then places both copies on
the same stretch of audio (measured on ``long.flac`` in a pause-packed clip: 26.67-27.43 s and 27.0-27.26 s). The
text says "please please" where the speaker said it once. A copy is recognised as faster-whisper's word alignment
makes it: the same word, normalised, whose time overlaps the word before it by more than half of the shorter one.
A person who says a word twice says it at two different times, so that repeat is kept.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from shared.contracts import Segment, Word

MIN_OVERLAP = 0.5  # share of the shorter word's duration both copies cover


def drop_doubled_words(segments: Sequence[Segment]) -> list[Segment]:
    """``segments`` (in time order) without the second copy of any doubled word; segments left empty go too."""
    kept: list[Segment] = []
    last: Word | None = None
    for segment in segments:
        words = []
        for word in segment.words:
            if last is not None and _doubled(last, word):
                continue
            words.append(word)
            last = word
        if words:
            kept.append(segment.with_words(words))
    return kept


def _doubled(first: Word, second: Word) -> bool:
    if _normal(first.word) != _normal(second.word) or not _normal(first.word):
        return False
    overlap = min(first.end, second.end) - max(first.start, second.start)
    shorter = min(first.end - first.start, second.end - second.start)
    return overlap > 0 and overlap >= MIN_OVERLAP * max(shorter, 1e-3)


def _normal(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if c.isalnum() or _mark(c))


def _mark(char: str) -> bool:
    """Combining marks are part of a word: in Hindi कम and कमी differ only by one."""
    return unicodedata.category(char).startswith("M")
