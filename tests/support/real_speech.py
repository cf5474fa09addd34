"""Real recordings for the tests: short utterances of different speakers joined by pauses, with their references.

The clips are ``tests/data/real/`` (their sources and licences: ``tests/data/README.md``): read speech from
LibriVox, LibriSpeech and CMU ARCTIC, telephone prompts at 8 kHz, a speech from 1961, spontaneous speech with
fillers by a speaker with a cold, card names read to a recogniser. Joined with pauses of 0.5-2 s they are the case
that batched decoding of VAD chunks got wrong (issue 20): Whisper, handed several short utterances at once, ends
early and whole utterances vanish; one long read passage would not show it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from shared.contracts import Word
from tests.support.wer import found

REAL = Path(__file__).resolve().parent.parent / "data" / "real"
RATE = 16_000
PAUSES_S = (0.5, 2.0)


@dataclass(frozen=True)
class Utterance:
    clip: str
    start: float
    end: float
    reference: str


@cache
def clips() -> list[dict[str, Any]]:
    """``tests/data/real/clips.json``: each clip's file, reference, speaker, kind, rate and source."""
    return list(json.loads((REAL / "clips.json").read_text()))


def recording(seed: int = 20) -> tuple[Any, list[Utterance]]:
    """Every clip once, in the order of ``clips.json``, resampled to 16 kHz mono, with a pause of 0.5-2 s of
    digital silence before each (drawn from ``seed``) and 1 s after the last. Returns samples and utterances."""
    import numpy as np
    from faster_whisper import decode_audio

    pick = random.Random(seed)
    parts: list[Any] = []
    utterances: list[Utterance] = []
    at = 0.0
    for clip in clips():
        pause = np.zeros(round(pick.uniform(*PAUSES_S) * RATE), dtype=np.float32)
        samples = decode_audio(str(REAL / clip["file"]), sampling_rate=RATE)
        at += len(pause) / RATE
        utterances.append(Utterance(clip["file"], at, at + len(samples) / RATE, clip["reference"]))
        at += len(samples) / RATE
        parts += [pause, samples]
    parts.append(np.zeros(RATE, dtype=np.float32))
    return np.concatenate(parts), utterances


def write_recording(path: Path, seed: int = 20) -> list[Utterance]:
    """:func:`recording` as a 16 kHz mono FLAC at ``path``; returns the utterances."""
    import soundfile

    samples, utterances = recording(seed)
    soundfile.write(str(path), samples, RATE, "PCM_16", format="FLAC")
    return utterances


def reference(utterances: Sequence[Utterance]) -> str:
    return " ".join(u.reference for u in utterances)


def recall(utterance: Utterance, heard: Sequence[Word], margin_s: float = 0.3) -> float:
    """Share of the utterance's reference words found, in order, among the words heard within its time (plus
    ``margin_s``: Whisper's word times are rough at the edges)."""
    near = [w.word for w in heard if utterance.start - margin_s <= (w.start + w.end) / 2 <= utterance.end + margin_s]
    matched, total = found(utterance.reference, " ".join(near))
    return matched / max(total, 1)
