"""A real recording that switches language, and error rates that work in any script.

The sections are real read speech with human references (``tests/data/real/lang/clips.json`` and
``tests/data/real/clips.json``; sources and licences in ``tests/data/README.md``), two clips each, joined by short
pauses: German, English, Spanish, Chinese, French, so the recording switches language four times and a 30 s
window holds at least one switch (the tests take one clip per section, 57 s; the bench both, 97 s). Chinese is
scored by characters (CER): it is written without spaces.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.support.wer import words

DATA = Path(__file__).resolve().parent.parent / "data" / "real"
RATE = 16_000
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("de", ("lang/css10_de_achtgesichterambiwasse_0044.flac", "lang/fleurs_de_005.flac")),
    ("en", ("jfk_jfk.flac", "mfa_librispeech_61-70968-0000.flac")),
    ("es", ("lang/mfa_13697_11991_000000.flac", "lang/css10_es_19demarzo_0008.flac")),
    ("zh", ("lang/fleurs_zh_1883.flac", "lang/css10_zh_call_to_arms_0023.flac")),
    ("fr", ("lang/css10_fr_lesmis_0153.flac", "lang/asterisk_fr_pbx-invalid.flac")),
)
CLIP_PAUSE_S = 0.6
SECTION_PAUSE_S = 1.0
BY_CHARACTER = frozenset({"zh", "ja", "ko", "th", "lo", "my", "km"})
"""Languages written without spaces between words: scored by characters."""


@dataclass(frozen=True)
class Section:
    language: str
    start: float
    end: float
    reference: str
    clips: tuple[str, ...]


@cache
def references() -> dict[str, str]:
    """Each clip's human reference, by its path under ``tests/data/real``."""
    found = {c["file"]: c["reference"] for c in json.loads((DATA / "clips.json").read_text())}
    found |= {f"lang/{c['file']}": c["reference"] for c in json.loads((DATA / "lang" / "clips.json").read_text())}
    return found


def load(clip: str) -> Any:
    from faster_whisper import decode_audio

    return decode_audio(str(DATA / clip), sampling_rate=RATE)


def switching(clips_per_section: int = 2) -> tuple[Any, list[Section]]:
    """The sections in order, 16 kHz mono float32, with 0.5 s of silence first and last; the tests take the first
    clip of each section (57 s), ``bench/languages.py`` both (97 s)."""
    import numpy as np

    parts: list[Any] = [np.zeros(RATE // 2, dtype=np.float32)]
    sections: list[Section] = []
    at = 0.5
    for n, (language, all_clips) in enumerate(SECTIONS):
        clips, start = all_clips[:clips_per_section], at
        for k, clip in enumerate(clips):
            if k:
                parts.append(np.zeros(round(CLIP_PAUSE_S * RATE), dtype=np.float32))
                at += CLIP_PAUSE_S
            samples = load(clip)
            parts.append(samples)
            at += len(samples) / RATE
        sections.append(Section(language, start, at, " ".join(references()[c] for c in clips), clips))
        gap = SECTION_PAUSE_S if n < len(SECTIONS) - 1 else 0.5
        parts.append(np.zeros(round(gap * RATE), dtype=np.float32))
        at += gap
    return np.concatenate(parts), sections


def tokens(text: str, language: str) -> list[str]:
    """Normalised units to compare: words (letters, marks and digits, case folded; English as the English tests
    compare it), or characters for languages written without spaces."""
    if language == "en":
        return words(text)  # tests/support/wer.py: numbers spelled out, as the English tests compare
    text = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(c if c.isalnum() or unicodedata.category(c).startswith("M") else " " for c in text)
    if language in BY_CHARACTER:
        return [c for c in kept if not c.isspace()]
    return re.findall(r"\S+", kept)


def error_rate(reference: str, hypothesis: str, language: str) -> float:
    """Word (or character) error rate: edits over the reference's length."""
    ref, hyp = tokens(reference, language), tokens(hypothesis, language)
    return _edits(ref, hyp) / max(len(ref), 1)


def _edits(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def one_language_per_window(transcriber: Any) -> None:
    """Make ``transcriber`` (a :class:`worker.engines.whisper.Transcriber`) detect as it did before issue 24: one
    language per window, from Whisper's detection on the window's first 30 s (faster-whisper's ``detect_language``,
    what its pipelines do when no language is given), every clip decoded in it. For showing what per-stretch
    detection changes (the tests and ``bench/languages.py``)."""
    from worker.pre.languages import forced

    def languages(audio: Any, spans: Any, asked: Any) -> Any:
        language = asked.forced or transcriber._model.detect_language(audio)[0]
        return forced(spans, language)

    transcriber._languages = languages
