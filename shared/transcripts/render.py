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
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from shared.contracts import Segment, Transcript
from shared.transcripts import text as script

MAX_CUE_S = 7.0
# Limits in columns of what a reader sees (``text.width``): a grapheme cluster is one column, a full-width one (CJK,
# kana, Hangul, emoji) two. 42 is the Latin-script line of subtitle style guides (Netflix, BBC); its 21 full-width
# characters are a little over Netflix's 16 for Chinese and Korean and 13 for Japanese, one rule for every script.
MAX_CUE_CHARS = 84
MAX_LINE_CHARS = 42
# U+200F RIGHT-TO-LEFT MARK: a strong right-to-left character that shows nothing.
RLM = "\u200f"
_RTL_CLASSES = ("R", "AL")
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
    text = "\n".join(bidi_line(line) for line in wrap_lines(cue.text, max_line_chars))
    separator = "" if number == 1 else "\n"
    return f"{separator}{number}\n{srt_time(cue.start_ms)} --> {srt_time(cue.end_ms)}\n{text}\n"


def vtt_block(cue: Cue, max_line_chars: int = MAX_LINE_CHARS) -> str:
    text = "\n".join(vtt_escape(bidi_line(line)) for line in wrap_lines(cue.text, max_line_chars))
    return f"\n{vtt_time(cue.start_ms)} --> {vtt_time(cue.end_ms)}\n{text}\n"


def wrap_lines(text: str, max_line_chars: int = MAX_LINE_CHARS) -> list[str]:
    """One line, or two split where a line may break (``text.chunks``: spaces, or between the characters of a
    script without spaces, never inside a grapheme cluster): two lines that fit, preferring a space or a CJK
    clause mark within two full-width characters of the balanced cut; none: one long line. Widths in columns."""
    if script.width(text) <= max_line_chars:
        return [text]
    pieces = script.chunks(text)
    if len(pieces) < 2:
        return [text]
    cut = min(range(1, len(pieces)), key=lambda k: _line_cost(pieces, k, max_line_chars))
    return ["".join(pieces[:cut]).rstrip(), "".join(pieces[cut:]).lstrip()]


def bidi_line(line: str) -> str:
    """``line`` with an RLM in front when it is mostly right-to-left but starts with a left-to-right word.

    Players take a line's direction from its first strong character (UAX #9 rules P2-P3; WebVTT's rendering rules
    apply them to each line of a cue, ``unicode-bidi: plaintext``): Arabic that starts with "iPhone" would be laid
    out left to right, its full stop at the wrong end. The mark fixes the direction and reorders nothing.
    """
    strong = [d for c in line if (d := unicodedata.bidirectional(c)) in ("L", "R", "AL")]
    if not strong or strong[0] != "L":
        return line
    rtl = sum(d in _RTL_CLASSES for d in strong)
    return RLM + line if rtl * 2 > len(strong) else line


def _line_cost(pieces: Sequence[str], cut: int, max_line_chars: int) -> tuple[bool, int, int]:
    """Order of preference for a two-line cut: both lines fit; the longer line short, a natural break (a space, a
    clause mark) counting four columns less; earlier."""
    first, second = script.width("".join(pieces[:cut]).rstrip()), script.width("".join(pieces[cut:]).lstrip())
    natural = pieces[cut][0].isspace() or pieces[cut - 1].rstrip()[-1:] in script.CLAUSE_END
    return (max(first, second) > max_line_chars, max(first, second) - (4 if natural else 0), cut)


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
    if seg.end - seg.start <= max_cue_s and script.width(text) <= max_cue_chars:
        return [(seg.start, seg.end, text)]
    pieces = _whole_clusters([_Piece(w.start, w.end, w.word) for w in seg.words]) if seg.words else None
    groups = _group(pieces or _interpolate(seg, text), max_cue_s, max_cue_chars)
    return [(g[0].start, g[-1].end, cue_text) for g in groups if (cue_text := _pieces_text(g))]


def _whole_clusters(pieces: list[_Piece]) -> list[_Piece]:
    """Words merged where the boundary between them falls inside a grapheme cluster, so no cue cut can split one.

    Whisper's words for Chinese, Japanese, Thai, Lao, Burmese and Cantonese are its tokens, and a token can end
    inside a cluster (a Thai vowel sign, a ZWJ emoji sequence): a cut there would show broken glyphs on both cues.
    """
    starts = set(script.boundaries("".join(p.text for p in pieces)))
    merged: list[_Piece] = []
    offset = 0
    for piece in pieces:
        if merged and offset not in starts:
            last = merged.pop()
            merged.append(_Piece(last.start, max(last.end, piece.end), last.text + piece.text))
        else:
            merged.append(piece)
        offset += len(piece.text)
    return merged


def _interpolate(seg: Segment, text: str) -> list[_Piece]:
    """Pieces of a segment without word timestamps, timed in proportion to character position: its words, or its
    grapheme clusters in a script without spaces (``text.chunks``)."""
    span = max(seg.end - seg.start, 0.0)
    pieces: list[_Piece] = []
    offset = 0
    for chunk in script.chunks(text):
        start = seg.start + span * offset / len(text)
        offset += len(chunk)
        pieces.append(_Piece(start, seg.start + span * offset / len(text), chunk))
    return pieces


def _pieces_text(pieces: Sequence[_Piece]) -> str:
    return _one_line("".join(p.text for p in pieces))


def _too_long(pieces: Sequence[_Piece], max_cue_s: float, max_cue_chars: int) -> bool:
    return pieces[-1].end - pieces[0].start > max_cue_s or script.width(_pieces_text(pieces)) > max_cue_chars


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
    """How many pieces to emit: all of them, or up to the last punctuation (any script's) in the second half."""
    for cut in range(len(pieces), max(1, math.ceil(len(pieces) / 2)) - 1, -1):
        if script.ends_clause(pieces[cut - 1].text):
            return cut
    return len(pieces)
