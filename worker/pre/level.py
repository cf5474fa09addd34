"""Quiet speech raised to a level the VAD and the model hear, before either sees the window.

Silero VAD's speech probability falls with the level: the passage scaled to a -50 dBFS peak was transcribed in full,
at -56 dBFS in part (40 of 65 words), at -58 dBFS and below not at all, and such a job "completed" with no words
(issue 22: speech at -60 dBFS, ``sox gain -n -60``). Whisper itself normalises its log-mel input, so only the VAD
needed the level. A window whose peak is under :data:`RAISE_BELOW_DBFS` is scaled so that its peak sits at
:data:`TARGET_PEAK_DBFS`; louder windows (every normal recording) are left exactly as they were decoded, so their
transcripts do not change. The gain is at most 60 dB: windows under the silence floor (-80 dBFS,
:mod:`shared.audio.level`) never get here (worker/pre/quiet.py).
"""

from __future__ import annotations

from typing import Any

from shared.audio.level import peak

RAISE_BELOW_DBFS = -30.0
TARGET_PEAK_DBFS = -20.0
_RAISE_BELOW = 10 ** (RAISE_BELOW_DBFS / 20)
_TARGET = 10 ** (TARGET_PEAK_DBFS / 20)


def raised(samples: Any) -> Any:
    """``samples`` (float32) with its peak brought to :data:`TARGET_PEAK_DBFS` when under :data:`RAISE_BELOW_DBFS`:
    a new array then, else the same one."""
    loudest = peak(samples)
    if loudest <= 0 or loudest >= _RAISE_BELOW:
        return samples
    return samples * (_TARGET / loudest)
