"""Concatenate the corpus into one long 16 kHz mono FLAC with a timed reference beside it.

A long file is what the service transcribes in production (it is cut into windows, decoded in parallel and
stitched), so the benchmark feeds it one: the clips in ``corpus.json`` order, each decoded and resampled to
16 kHz mono, separated by pauses of digital silence whose lengths come from ``random.Random(seed)``. The file is
written clip by clip, so memory holds one clip, never the whole file. ``<name>.json`` beside it records where each
utterance lies, for per-utterance scoring (``score.utterance_recall``) as well as whole-file WER.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from faster_whisper.audio import decode_audio

from bench.real_speech.fetch import fetch, load_corpus

SAMPLE_RATE = 16_000
EDGE_S = 1.0  # silence before the first and after the last utterance


@dataclass(frozen=True)
class Utterance:
    id: str
    start: float
    end: float
    reference: str
    speaker: str
    kind: str
    sample_rate: int  # of the original recording: 8 kHz prompts stay narrow-band after resampling
    cycle: int  # 0 on the first pass through the corpus; more when ``minutes`` repeats it


def build(
    cache: Path, out: Path, seed: int = 1, pause: tuple[float, float] = (0.5, 2.0), minutes: float | None = None
) -> Path:
    """Write ``out`` (FLAC) and ``out.with_suffix('.json')``; returns ``out``.

    ``minutes`` repeats the corpus (each pass with new pauses) or cuts it at the first utterance that ends past
    that length; ``None`` is one pass.
    """
    if minutes is not None and minutes <= 0:
        raise ValueError("minutes must be positive")
    root = fetch(cache)
    rng = random.Random(seed)
    limit = None if minutes is None else round(minutes * 60 * SAMPLE_RATE)
    utterances: list[Utterance] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(out, "w", SAMPLE_RATE, 1, "PCM_16", format="FLAC") as sink:
        cursor = _silence(sink, EDGE_S)
        for cycle, clip in _schedule(minutes is not None):
            if utterances:
                cursor += _silence(sink, rng.uniform(*pause))
            audio = decode_audio(str(root / clip["source"] / clip["path"]), sampling_rate=SAMPLE_RATE)
            sink.write(audio)
            utterances.append(_utterance(clip, cursor, len(audio), cycle))
            cursor += len(audio)
            if limit is not None and cursor >= limit:
                break
        cursor += _silence(sink, EDGE_S)
    _write_reference(out, utterances, cursor / SAMPLE_RATE, seed, pause)
    return out


def _schedule(repeat: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """The clips in corpus order with their pass number: once, or endlessly when the caller cuts by length."""
    clips = load_corpus()["clips"]
    passes = itertools.count() if repeat else range(1)
    return ((cycle, clip) for cycle in passes for clip in clips)


def _silence(sink: sf.SoundFile, seconds: float) -> int:
    """Write ``seconds`` of digital silence in one-second blocks; returns the samples written."""
    total = round(seconds * SAMPLE_RATE)
    for start in range(0, total, SAMPLE_RATE):
        sink.write(np.zeros(min(SAMPLE_RATE, total - start), dtype=np.float32))
    return total


def _utterance(clip: dict[str, Any], start: int, samples: int, cycle: int) -> Utterance:
    return Utterance(
        id=clip["id"],
        start=round(start / SAMPLE_RATE, 3),
        end=round((start + samples) / SAMPLE_RATE, 3),
        reference=clip["reference"],
        speaker=clip["speaker"],
        kind=clip["kind"],
        sample_rate=clip["sample_rate"],
        cycle=cycle,
    )


def _write_reference(
    out: Path, utterances: list[Utterance], duration_s: float, seed: int, pause: tuple[float, float]
) -> None:
    document = {
        "reference": " ".join(u.reference for u in utterances),
        "utterances": [asdict(u) for u in utterances],
        "duration_s": round(duration_s, 3),
        "seed": seed,
        "pause": list(pause),
    }
    out.with_suffix(".json").write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
