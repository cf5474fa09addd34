"""Text in any script: grapheme clusters, display width, and where text may break or join without a space.

Subtitle cues and lines are cut by code, and a cut inside a grapheme cluster (what a reader sees as one character:
``e`` + a combining accent, a Devanagari consonant with its vowel sign, a family emoji joined by ZWJs, a flag made
of two regional indicators) shows a broken glyph on both sides. :func:`graphemes` implements the extended grapheme
cluster boundaries of UAX #29 (unicode.org/reports/tr29, Unicode 15.1) from ``unicodedata`` alone, so the Function
App gains no dependency: GB3-GB5 (CR LF, controls), GB6-GB8 (Hangul jamo and syllables), GB9 (Extend: Mn, Me,
ZWNJ, emoji modifiers, tags, half-width kana voicing marks; and ZWJ), GB9a (SpacingMark: Mc, Thai/Lao AM),
GB9b (Prepend: the Arabic number signs and their kin), GB9c (Indic conjuncts: consonant + virama + consonant in
the six scripts Unicode 15.1 names), GB11 (emoji ZWJ sequences) and GB12/GB13 (regional-indicator pairs).
Property tables are approximated by general category and code-point ranges where Python's ``unicodedata`` has no
grapheme property; the unit tests compare the result with the ``regex`` module's ``\\X`` on every script the
service transcribes.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from itertools import pairwise

ZWJ = "\u200d"
_ZWNJ = "\u200c"
# GB9b: Prepend (Arabic number signs, Syriac abbreviation mark, Kaithi number signs, ...).
_PREPEND = frozenset([*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x110BD, 0x110CD])
# GB9a: SpacingMark beyond Mc, and the Mc that are not SpacingMark (Myanmar, Tai Tham, Tai Viet, Ahom).
_SPACING_EXTRA = frozenset([0x0E33, 0x0EB3])
_NOT_SPACING = frozenset(
    {0x102B, 0x102C, 0x1038, 0x1062, 0x1063, 0x1064, 0x1067, 0x1068, 0x1069, 0x106A, 0x106B, 0x106C, 0x106D, 0x1083}
    | {0x1087, 0x1088, 0x1089, 0x108A, 0x108B, 0x108C, 0x108F, 0x109A, 0x109B, 0x109C, 0x1A61, 0x1A63, 0x1A64}
    | {0xAA7B, 0xAA7D, 0x11720, 0x11721}
)
# GB9c: the virama of Devanagari, Bengali, Gujarati, Oriya, Telugu and Malayalam (InCB=Linker), and Khmer's
# coeng, which later Unicode versions (and the regex module) treat alike: a subscript consonant is part of its stack.
_LINKERS = frozenset([0x094D, 0x09CD, 0x0ACD, 0x0B4D, 0x0C4D, 0x0D4D, 0x17D2])
_INDIC_BLOCKS = (0x0900, 0x0980, 0x0A80, 0x0B00, 0x0C00, 0x0D00)
# Emoji that are Extended_Pictographic (GB11), outside the big 1F000-1FAFF block.
_PICTOGRAPHIC_RANGES = (
    (0x2190, 0x21FF),
    (0x2300, 0x23FF),
    (0x25A0, 0x27BF),
    (0x2934, 0x2935),
    (0x2B05, 0x2B55),
    (0x1F000, 0x1FAFF),
    (0x1FC00, 0x1FFFD),
)
_PICTOGRAPHIC_SINGLES = frozenset(
    [0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x24C2, 0x3030, 0x303D, 0x3297, 0x3299]
)


@lru_cache(maxsize=4096)
def _kind(char: str) -> str:
    """The character's Grapheme_Cluster_Break value (as far as the rules above need it), plus ``Pict``, ``Linker``
    and ``Consonant`` for GB11 and GB9c."""
    cp = ord(char)
    category = unicodedata.category(char)
    if char in "\r\n":
        return "CR" if char == "\r" else "LF"
    if char == ZWJ:
        return "ZWJ"
    if cp in _LINKERS:
        return "Linker"
    if 0x1F1E6 <= cp <= 0x1F1FF:
        return "RI"
    if char == _ZWNJ or category in ("Mn", "Me") or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:
        return "Extend"
    if 0xFF9E <= cp <= 0xFF9F:
        return "Extend"
    if cp in _PREPEND:
        return "Prepend"
    if category in ("Cc", "Zl", "Zp", "Cf"):
        return "Control"
    if (category == "Mc" and cp not in _NOT_SPACING) or cp in _SPACING_EXTRA:
        return "SpacingMark"
    return _hangul(cp) or _consonant(cp, category) or _pictographic(cp)


def _hangul(cp: int) -> str:
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return "L"
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return "V"
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return "T"
    if 0xAC00 <= cp <= 0xD7A3:
        return "LV" if (cp - 0xAC00) % 28 == 0 else "LVT"
    return ""


def _consonant(cp: int, category: str) -> str:
    """InCB=Consonant, approximately: letters in the consonant rows (ISCII layout) of the six GB9c scripts."""
    if category != "Lo":
        return ""
    for base in _INDIC_BLOCKS:
        if base + 0x15 <= cp <= base + 0x3A or base + 0x58 <= cp <= base + 0x5F:
            return "Consonant"
    return "Consonant" if 0x0978 <= cp <= 0x097F or 0x1780 <= cp <= 0x17A2 else ""


def _pictographic(cp: int) -> str:
    if cp in _PICTOGRAPHIC_SINGLES or any(lo <= cp <= hi for lo, hi in _PICTOGRAPHIC_RANGES):
        return "Pict"
    return "Other"


_HANGUL_NO_BREAK = {
    ("L", "L"), ("L", "V"), ("L", "LV"), ("L", "LVT"), ("LV", "V"), ("LV", "T"), ("V", "V"), ("V", "T"),
    ("LVT", "T"), ("T", "T"),
}  # fmt: skip


class _State:
    """What the rules that look back further than one character need: GB11's emoji, GB12/13's regional-indicator
    count, GB9c's consonant-virama run."""

    def __init__(self) -> None:
        self.pict = False  # inside ExtPict Extend* (ZWJ)?
        self.ri_odd = False  # an odd number of regional indicators just before
        self.conjunct = ""  # "" / "consonant" (Consonant [Extend]*) / "linked" (... Linker [Extend|Linker]*)

    def advance(self, kind: str) -> None:
        self.pict = kind == "Pict" or (self.pict and kind in ("Extend", "ZWJ"))
        self.ri_odd = kind == "RI" and not self.ri_odd
        if kind == "Consonant":
            self.conjunct = "consonant"
        elif kind == "Linker" and self.conjunct:
            self.conjunct = "linked"
        elif kind not in ("Extend", "ZWJ", "Linker"):
            self.conjunct = ""


def _breaks(before: str, after: str, state: _State, pict_before_zwj: bool) -> bool:
    """Whether UAX #29 allows a boundary between two characters of these kinds (rules GB3-GB13, GB999)."""
    if before == "CR" and after == "LF":
        return False  # GB3
    if before in ("CR", "LF", "Control") or after in ("CR", "LF", "Control"):
        return True  # GB4, GB5
    if (before, after) in _HANGUL_NO_BREAK:
        return False  # GB6-GB8
    if after in ("Extend", "ZWJ", "Linker", "SpacingMark") or before == "Prepend":
        return False  # GB9, GB9a, GB9b (a virama is Extend too)
    if before in ("Extend", "ZWJ", "Linker") and state.conjunct == "linked" and after == "Consonant":
        return False  # GB9c
    if before == "ZWJ" and after == "Pict" and pict_before_zwj:
        return False  # GB11
    return not (before == "RI" and after == "RI" and state.ri_odd)  # GB12, GB13, else GB999


def boundaries(text: str) -> list[int]:
    """Offsets in ``text`` where a grapheme cluster starts, plus ``len(text)`` (``[0]`` for empty text)."""
    cuts = [0]
    state = _State()
    previous = ""
    for i, char in enumerate(text):
        kind = _kind(char)
        if i and _breaks(previous, kind, state, state.pict and previous == "ZWJ"):
            cuts.append(i)
        state.advance(kind)
        previous = kind
    if text:
        cuts.append(len(text))
    return cuts


def graphemes(text: str) -> list[str]:
    """``text`` as extended grapheme clusters: ``"".join(graphemes(t)) == t``."""
    cuts = boundaries(text)
    return [text[a:b] for a, b in pairwise(cuts)]


def cluster_width(cluster: str) -> int:
    """Columns a cluster takes on screen: 2 for East Asian Wide/Fullwidth (CJK, kana, Hangul, most emoji) or an
    emoji-presentation sequence, else 1 (a combining mark adds nothing to its base)."""
    if "\ufe0f" in cluster or any(unicodedata.east_asian_width(c) in ("W", "F") for c in cluster):
        return 2
    return 1


def width(text: str) -> int:
    """What a reader sees, in columns: each grapheme cluster counts once, full-width ones twice."""
    if text.isascii():
        return len(text)
    return sum(cluster_width(c) for c in graphemes(text))


# Scripts written without spaces between words: CJK (wide) and the Southeast Asian scripts (Thai, Lao, Myanmar,
# Khmer). Between two such characters a line may break, and two pieces join without a space.
_SPACELESS_RANGES = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF))


def spaceless(char: str) -> bool:
    """Whether ``char`` belongs to a script that runs words together: Han, kana, full-width forms and CJK
    punctuation, Thai, Lao, Myanmar, Khmer. Not Hangul: Korean puts spaces between words."""
    cp = ord(char)
    if any(lo <= cp <= hi for lo, hi in _SPACELESS_RANGES):
        return True
    if _hangul(cp) or 0x3130 <= cp <= 0x318F:
        return False
    return unicodedata.east_asian_width(char) in ("W", "F") and unicodedata.category(char)[0] in "LNP"


def join(left: str, right: str) -> str:
    """Two pieces of text with one space between them, none where either side is a script without spaces."""
    left, right = left.rstrip(), right.lstrip()
    if not left or not right:
        return left or right
    if spaceless(left[-1]) or spaceless(right[0]):
        return left + right
    return f"{left} {right}"


def separator(left: str, right: str) -> str:
    """What :func:`join` puts between ``left`` and ``right`` (both already stripped): ``" "`` or ``""``."""
    return "" if not left or not right or spaceless(left[-1]) or spaceless(right[0]) else " "


# Kinsoku: CJK closing punctuation never starts a line, opening brackets never end one (JIS X 4051, W3C JLReq).
_NO_LINE_START = frozenset("。，、．！？：；」』）】〕〉》”’)…ー々ゃゅょっャュョッぁぃぅぇぉァィゥェォ")
_NO_LINE_END = frozenset("「『（【〔〈《“‘(")
# Closing quotes and brackets that may follow a sentence's or clause's final mark: ``He said "stop."``.
CLOSERS = "\"'”’)]}»」』）】›"
# CJK and other full stops, commas and marks after which a line or cue ends most naturally.
CLAUSE_END = frozenset(",;:.!?…、。，；：？！．،؛؟۔।॥։።፣")


def chunks(text: str) -> list[str]:
    """``text`` cut where a line may break: before each space (kept at the start of the next chunk), and between
    two grapheme clusters of a script without spaces, except before closing or after opening CJK punctuation.
    Never inside a cluster; ``"".join(chunks(t)) == t``."""
    pieces: list[str] = []
    current = ""
    for cluster in graphemes(text):
        if current and _may_break(current, cluster):
            pieces.append(current)
            current = ""
        current += cluster
    return [*pieces, current] if current else pieces


def _may_break(before: str, cluster: str) -> bool:
    if cluster[0].isspace():
        return not before[-1].isspace()
    if before[-1].isspace():
        return False
    if cluster[0] in _NO_LINE_START or before[-1] in _NO_LINE_END:
        return False
    return spaceless(before[-1]) or spaceless(cluster[0])


def ends_clause(text: str) -> bool:
    """Whether ``text`` ends with clause or sentence punctuation (closing quotes and brackets after it allowed)."""
    stripped = text.rstrip().rstrip(CLOSERS)
    return bool(stripped) and stripped[-1] in CLAUSE_END


# Full stops, question and exclamation marks: Latin, CJK (full- and half-width), Arabic and Urdu, Devanagari and
# Bengali dandas, Armenian, Ethiopic, Myanmar, Khmer, the Greek question mark; Thai and Lao have none.
SENTENCE_END = frozenset(".?!…‼⁇⁈⁉。？！．｡؟۔।॥։።፧၊။។")
# Greek writes its question mark as ";" (U+037E normalises to it, even under NFC, so it cannot be listed above: the
# set would then end English sentences at every semicolon), which in other languages ends no sentence.
_SENTENCE_END_BY_LANGUAGE = {"el": frozenset(";")}


def ends_sentence(text: str, language: str | None = None) -> bool:
    """Whether ``text`` ends a sentence in ``language`` (a closing quote or bracket after the mark allowed)."""
    stripped = text.rstrip().rstrip(CLOSERS)
    if not stripped:
        return False
    last = unicodedata.normalize("NFKC", stripped[-1])
    return last in SENTENCE_END or last in _SENTENCE_END_BY_LANGUAGE.get(language or "", ())
