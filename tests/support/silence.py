"""Silent WAV files of any length, written a second at a time (never held in memory): scale tests and benchmarks."""

from __future__ import annotations

import wave
from pathlib import Path


def silent_wav(path: Path, seconds: int, rate: int = 8000) -> Path:
    """16-bit mono silence; 8 kHz keeps a 10,000 s file at 160 MB."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        second = b"\0\0" * rate
        for _ in range(seconds):
            out.writeframes(second)
    return path
