"""Cut the batched pipeline's chunk-long segments into sentences, by their words' times.

``BatchedInferencePipeline`` returns one segment per VAD chunk (up to 30 s: it decodes without timestamp tokens,
faster-whisper #985, #1427), where the sequential decoder gives phrases of a few seconds. Customers read segments
as the JSON's units and the TXT's lines, so a 30 s block of text would be a regression that batching alone caused.
The words already carry times, so a segment is cut after a word that ends a sentence, or where the speaker paused;
a sentence still too long is cut at its longest pause. Text, words and times are kept exactly: the pieces' words
are the segment's words, in order, and each piece's text is its words' text.
"""

from __future__ import annotations

from itertools import pairwise

from shared.contracts import Segment, Word
from shared.transcripts.text import ends_sentence

PAUSE_S = 0.8  # a gap between words this long ends a segment even mid-sentence (what a listener hears as a break)
MAX_SEGMENT_S = 12.0  # a longer piece is cut again at its longest pause between words


def sentences(segment: Segment, language: str | None = None) -> list[Segment]:
    """The segment as one segment per sentence (or pause-separated phrase); itself when it has no words. Sentence
    ends in any script (``shared/transcripts/text.py``: 。, ؟, ।, a closing quote after the mark, ...), the Greek
    question mark ";" only in Greek (``language``)."""
    if len(segment.words) < 2:
        return [segment]
    pieces: list[list[Word]] = [[segment.words[0]]]
    for before, word in pairwise(segment.words):
        if ends_sentence(before.word, language) or word.start - before.end >= PAUSE_S:
            pieces.append([])
        pieces[-1].append(word)
    return [segment.with_words(words) for piece in pieces for words in _short(piece)]


def _short(words: list[Word]) -> list[list[Word]]:
    if len(words) < 2 or words[-1].end - words[0].start <= MAX_SEGMENT_S:
        return [words]
    gaps = [round(b.start - a.end, 3) for a, b in pairwise(words)]  # ms: ties go to the middle
    cut = 1 + max(range(len(gaps)), key=lambda k: (gaps[k], -abs(k - len(gaps) / 2)))
    return _short(words[:cut]) + _short(words[cut:])
