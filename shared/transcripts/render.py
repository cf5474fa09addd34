"""Transcript renderings: plain text, SRT and WebVTT subtitles, and the JSON document.

Whisper segments can run to 30 s and several hundred characters, far more than a viewer can read in one
subtitle, so long segments are split into cues at word boundaries using the word timestamps (text-only segments
get times interpolated by character position). A split prefers to fall after punctuation in the cue's second
half, and a cue's text is wrapped onto two balanced lines. Cue times are in whole milliseconds, strictly
increasing, never overlapping and never empty, because players drop or garble cues that break those rules, and
seams between windows can leave neighbouring words overlapping by a few milliseconds.

Hours are not limited to two digits: a 120-hour recording gives ``120:00:00,000``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from shared.contracts import Segment, Transcript

MAX_CUE_S = 7.0
MAX_CUE_CHARS = 84
MAX_LINE_CHARS = 42
# Punctuation after which a cue may end naturally.
_BREAK_AFTER = frozenset(",;:.!?…、。，；：？！")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Cue:
    """One subtitle: times in whole milliseconds (``end_ms > start_ms``) and one-line text before wrapping."""

    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class _Piece:
    start: float
    end: float
    text: str  # with its leading space, as Whisper gives words


def to_txt(segments: Iterable[Segment]) -> str:
    """One line per segment (what people paste into documents), with a trailing newline; empty for silence."""
    return "".join(txt_chunks(segments))


def txt_chunks(segments: Iterable[Segment]) -> Iterator[str]:
    return (line for seg in segments if (line := txt_line(seg)))


def txt_line(seg: Segment) -> str | None:
    """The segment's line in ``transcript.txt``, or None for a segment with no text."""
    text = _one_line(seg.text)
    return f"{text}\n" if text else None


def to_srt(
    segments: Iterable[Segment],
    *,
    max_cue_s: float = MAX_CUE_S,
    max_cue_chars: int = MAX_CUE_CHARS,
    max_line_chars: int = MAX_LINE_CHARS,
) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, a blank line between cues; text unescaped."""
    cues = build_cues(segments, max_cue_s=max_cue_s, max_cue_chars=max_cue_chars)
    return "".join(srt_block(number, cue, max_line_chars) for number, cue in enumerate(cues, 1))


def to_vtt(
    segments: Iterable[Segment],
    *,
    max_cue_s: float = MAX_CUE_S,
    max_cue_chars: int = MAX_CUE_CHARS,
    max_line_chars: int = MAX_LINE_CHARS,
) -> str:
    """WebVTT: the ``WEBVTT`` header, then cues ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` with escaped text."""
    cues = build_cues(segments, max_cue_s=max_cue_s, max_cue_chars=max_cue_chars)
    return VTT_HEADER + "".join(vtt_block(cue, max_line_chars) for cue in cues)


VTT_HEADER = "WEBVTT\n"


def transcript_json(transcript: Transcript) -> bytes:
    """``transcript.json``: UTF-8 (not ASCII-escaped), keys in the contract's field order, ``timings`` sorted.

    Compact rather than indented: a day-long recording has hundreds of thousands of words.
    """
    stable = transcript.model_copy(update={"timings": dict(sorted(transcript.timings.items()))})
    return stable.model_dump_json().encode("utf-8")


def srt_time(ms: int) -> str:
    """``HH:MM:SS,mmm``; hours grow past two digits rather than wrapping."""
    return _clock(ms, ",")


def vtt_time(ms: int) -> str:
    """``HH:MM:SS.mmm``; WebVTT allows more than two hour digits."""
    return _clock(ms, ".")


def to_ms(seconds: float) -> int:
    """Whole milliseconds, never negative; ``59.999`` is 59999, not 59998 from float error."""
    return max(0, round(seconds * 1000))


def vtt_escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` as WebVTT requires; this also turns any ``-->`` into ``--&gt;``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_cues(
    segments: Iterable[Segment], *, max_cue_s: float = MAX_CUE_S, max_cue_chars: int = MAX_CUE_CHARS
) -> list[Cue]:
    """Readable cues: long segments split at word boundaries, then times made strictly increasing and disjoint."""
    return list(cue_stream(sorted(segments, key=lambda s: s.start), max_cue_s=max_cue_s, max_cue_chars=max_cue_chars))


def cue_stream(
    segments: Iterable[Segment], *, max_cue_s: float = MAX_CUE_S, max_cue_chars: int = MAX_CUE_CHARS
) -> Iterator[Cue]:
    """:func:`build_cues` one cue at a time, from segments sorted by start."""
    builder = CueBuilder(max_cue_s, max_cue_chars)
    for seg in segments:
        yield from builder.add(seg)
    yield from builder.finish()


class CueBuilder:
    """Cues pushed one segment at a time, holding one cue back: its end is capped by the next one's start."""

    def __init__(self, max_cue_s: float = MAX_CUE_S, max_cue_chars: int = MAX_CUE_CHARS) -> None:
        if max_cue_s <= 0 or max_cue_chars <= 0:
            raise ValueError("max_cue_s and max_cue_chars must be positive")
        self.max_cue_s, self.max_cue_chars = max_cue_s, max_cue_chars
        self._held: tuple[int, int, str] | None = None

    def add(self, seg: Segment) -> list[Cue]:
        ready = []
        for start, end, text in _split_segment(seg, self.max_cue_s, self.max_cue_chars):
            held = self._held
            start_ms = to_ms(start) if held is None else max(to_ms(start), held[0] + 1)
            if held is not None:
                ready.append(Cue(held[0], min(held[1], start_ms), held[2]))
            self._held = (start_ms, max(to_ms(end), start_ms + 1), text)
        return ready

    def finish(self) -> list[Cue]:
        held, self._held = self._held, None
        return [Cue(*held)] if held is not None else []


def srt_block(number: int, cue: Cue, max_line_chars: int = MAX_LINE_CHARS) -> str:
    """One SubRip cue; every cue but the first is preceded by the blank line that separates cues."""
    text = "\n".join(wrap_lines(cue.text, max_line_chars))
    separator = "" if number == 1 else "\n"
    return f"{separator}{number}\n{srt_time(cue.start_ms)} --> {srt_time(cue.end_ms)}\n{text}\n"


def vtt_block(cue: Cue, max_line_chars: int = MAX_LINE_CHARS) -> str:
    text = "\n".join(vtt_escape(line) for line in wrap_lines(cue.text, max_line_chars))
    return f"\n{vtt_time(cue.start_ms)} --> {vtt_time(cue.end_ms)}\n{text}\n"


def wrap_lines(text: str, max_line_chars: int = MAX_LINE_CHARS) -> list[str]:
    """One line, or two of balanced length split at the space nearest the middle (none: one long line)."""
    if len(text) <= max_line_chars:
        return [text]
    spaces = [i for i, char in enumerate(text) if char == " "]
    if not spaces:
        return [text]
    cut = min(spaces, key=lambda i: (max(i, len(text) - i - 1), i))
    return [text[:cut], text[cut + 1 :]]


def _clock(ms: int, separator: str) -> str:
    ms = max(0, ms)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _one_line(text: str) -> str:
    """Segment text on one line: a newline inside a cue's text would end the cue early in SRT and VTT."""
    return _WHITESPACE.sub(" ", text).strip()


def _split_segment(seg: Segment, max_cue_s: float, max_cue_chars: int) -> list[tuple[float, float, str]]:
    text = _one_line(seg.text)
    if not text:
        return []
    if seg.end - seg.start <= max_cue_s and len(text) <= max_cue_chars:
        return [(seg.start, seg.end, text)]
    pieces = [_Piece(w.start, w.end, w.word) for w in seg.words] if seg.words else _interpolate(seg, text)
    groups = _group(pieces, max_cue_s, max_cue_chars)
    return [(g[0].start, g[-1].end, cue_text) for g in groups if (cue_text := _pieces_text(g))]


def _interpolate(seg: Segment, text: str) -> list[_Piece]:
    """Word-like pieces of a segment without word timestamps, timed in proportion to character position."""
    span = max(seg.end - seg.start, 0.0)
    pieces: list[_Piece] = []
    for match in re.finditer(r"\S+", text):
        start = seg.start + span * match.start() / len(text)
        end = seg.start + span * match.end() / len(text)
        pieces.append(_Piece(start, end, (" " if pieces else "") + match.group()))
    return pieces


def _pieces_text(pieces: Sequence[_Piece]) -> str:
    return _one_line("".join(p.text for p in pieces))


def _too_long(pieces: Sequence[_Piece], max_cue_s: float, max_cue_chars: int) -> bool:
    return pieces[-1].end - pieces[0].start > max_cue_s or len(_pieces_text(pieces)) > max_cue_chars


def _group(pieces: Sequence[_Piece], max_cue_s: float, max_cue_chars: int) -> list[list[_Piece]]:
    """Greedy grouping: a group ends before the piece that would make it too long (a lone piece always fits)."""
    groups: list[list[_Piece]] = []
    current: list[_Piece] = []
    for piece in pieces:
        while current and _too_long([*current, piece], max_cue_s, max_cue_chars):
            cut = _best_cut(current)
            groups.append(current[:cut])
            current = current[cut:]
        current.append(piece)
    if current:
        groups.append(current)
    return groups


def _best_cut(pieces: Sequence[_Piece]) -> int:
    """How many pieces to emit: all of them, or up to the last punctuation in the second half."""
    for cut in range(len(pieces), max(1, math.ceil(len(pieces) / 2)) - 1, -1):
        last = pieces[cut - 1].text.rstrip()
        if last and last[-1] in _BREAK_AFTER:
            return cut
    return len(pieces)
