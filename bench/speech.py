"""The benches' long speech: tests/data/long.flac (73 s of espeak-ng, 16 kHz mono) repeated, written a repeat at a
time (never the whole file in memory), and the text it speaks."""

from __future__ import annotations

from pathlib import Path

import soundfile

SOURCE = Path(__file__).resolve().parent.parent / "tests" / "data" / "long.flac"


def repeats(minutes: float) -> int:
    """Whole repeats of long.flac nearest to ``minutes``."""
    return max(1, round(minutes * 60 / soundfile.info(str(SOURCE)).duration))


def long_speech(minutes: float, folder: Path, *, exact: bool = False) -> Path:
    """long.flac repeated to about ``minutes`` (``exact``: cut to exactly that long) as a 16 kHz mono FLAC."""
    speech, rate = soundfile.read(str(SOURCE), dtype="int16")
    want = int(minutes * 60 * rate) if exact else repeats(minutes) * len(speech)
    out = folder / f"speech_{minutes:g}min.flac"
    with soundfile.SoundFile(str(out), "w", rate, 1, "PCM_16", format="FLAC") as sink:
        for start in range(0, want, len(speech)):
            sink.write(speech[: want - start])
    return out


def spoken(minutes: float) -> str:
    """What ``long_speech(minutes)`` says: long.txt once per repeat."""
    return " ".join([SOURCE.with_suffix(".txt").read_text()] * repeats(minutes))
