"""How loud decoded audio is: the one notion of "silent" shared by the worker's quiet skip, the level it raises
quiet speech to, the probe's choice of an audio stream, and the merge's "no words though not silent" warning.

Levels are peaks in dB of full scale (dBFS) of float32 samples in [-1, 1]. The silence floor is -80 dBFS: under 4
steps of 16-bit audio, so the recorder's own dither (+-2 steps, -84 dBFS) is silent and no 16-bit recording this
quiet holds speech anyone could make out; anything above it may be speech, however faint, and is listened to.
"""

from __future__ import annotations

import math
from typing import Any

SILENT_PEAK_DBFS = -80.0
SILENT_PEAK = 10 ** (SILENT_PEAK_DBFS / 20)  # 1e-4 of full scale: 3.3 steps of 16-bit audio


def peak(samples: Any) -> float:
    """The loudest sample's magnitude, 0.0 for no samples; max and min are taken without a copy of the array."""
    if len(samples) == 0:
        return 0.0
    return max(float(samples.max()), -float(samples.min()))


def peak_dbfs(samples: Any) -> float | None:
    """The loudest sample in dBFS, rounded to 0.1 dB; ``None`` for digital silence or no samples."""
    loudest = peak(samples)
    return round(20 * math.log10(loudest), 1) if loudest > 0 else None


def is_silent(samples: Any) -> bool:
    """True when no sample reaches :data:`SILENT_PEAK_DBFS` (no samples are silent too)."""
    return peak(samples) < SILENT_PEAK


def sounds(peak_db: float | None) -> bool:
    """Whether a window whose peak was ``peak_db`` (as :func:`peak_dbfs` gives it) had sound in it."""
    return peak_db is not None and peak_db >= SILENT_PEAK_DBFS
