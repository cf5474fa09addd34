"""The load's audio: short speech clips with known words, and one silent file for the upload sessions.

The clips are the six sentences of ``tests/data/speech_16k_mono.wav`` (``speech.txt``), cut at the pauses
between them (found in the audio, so a regenerated passage still cuts right): 2.9-5.3 s each. Clip ``i`` is
sentence ``i % 6`` after ``10 ms x (i // 6)`` of extra silence, so every job uploads bytes of its own and
neighbouring jobs hold different sentences: a transcript delivered to the wrong job shows as the wrong words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.support.silence import silent_wav

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
PASSAGE = DATA / "speech_16k_mono.wav"
GAP_S = 0.3  # the passage's pauses between sentences are 0.38-0.40 s, those at commas 0.20-0.24 s (measured)
QUIET = 0.01  # peak amplitude below which a 10 ms frame counts as silence (the clip is normalised to -3 dBFS)


@dataclass(frozen=True)
class Clip:
    path: Path
    sentence: int
    text: str  # the words spoken
    duration_s: float


def sentences() -> list[str]:
    return [s.strip() + "." for s in re.split(r"\.\s*", (DATA / "speech.txt").read_text()) if s.strip()]


def _cuts(samples: np.ndarray, rate: int) -> list[int]:
    """Sample offsets of the middle of each pause of at least ``GAP_S`` (the sentence boundaries)."""
    frame = rate // 100
    peaks = np.abs(samples[: len(samples) // frame * frame].astype(np.int32)).reshape(-1, frame).max(axis=1)
    cuts, start = [], None
    for i, quiet in enumerate(np.append(peaks < QUIET * 32768, False)):
        if quiet and start is None:
            start = i
        elif not quiet and start is not None:
            if (i - start) / 100 >= GAP_S and start > 0 and i < len(peaks):  # not the edges
                cuts.append((start + i) // 2 * frame)
            start = None
    return cuts


def make_clips(folder: Path, count: int) -> list[Clip]:
    """``count`` WAV clips in ``folder`` (16 kHz mono PCM16, the passage's own format)."""
    texts = sentences()
    samples, rate = sf.read(PASSAGE, dtype="int16")
    bounds = [0, *_cuts(samples, rate), len(samples)]
    if len(bounds) - 1 != len(texts):
        raise RuntimeError(f"found {len(bounds) - 1} sentences in {PASSAGE.name}, speech.txt has {len(texts)}")
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for i in range(count):
        k = i % len(texts)
        lead = np.zeros(rate * (i // len(texts)) // 100, dtype=np.int16)
        path = folder / f"clip-{i:04d}.wav"
        audio = np.concatenate([lead, samples[bounds[k] : bounds[k + 1]]])
        sf.write(path, audio, rate, subtype="PCM_16")
        clips.append(Clip(path, k, texts[k], len(audio) / rate))
    return clips


def upload_file(folder: Path, seconds: int) -> Path:
    """The upload sessions' file: silence (8 kHz, 16 kB/s), so its job is quick once it is uploaded."""
    folder.mkdir(parents=True, exist_ok=True)
    return silent_wav(folder / "session.wav", seconds)
