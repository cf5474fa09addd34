"""Windows with nothing to hear skip the model: digital silence, or the dither of an empty room's recording.

A 10-hour recording of an empty room is 60 windows of 600 s; each took the worker ~1 s of a core (Silero VAD over
the whole window, then nothing to decode), so the job cost a minute of worker time to say nothing (~2 min commit to
answer on this machine's 2 loaded cores, tests/faults/test_bad_inputs.py). A window's peak level is found in ~2 ms
(600 s at 16 kHz, measured here): with the skip the same job took 14-16 s.

Quiet speech is never skipped: the model hears level-raised audio (worker/pre/level.py), so the passage at a -60 dBFS
peak is transcribed as at full scale, where it used to come back empty (issue 22). The skip is for windows under the
silence floor of :mod:`shared.audio.level` (-80 dBFS: under 4 steps of 16-bit audio), which hold no speech.
"""

from __future__ import annotations

from typing import Any

from shared.audio.level import SILENT_PEAK_DBFS, is_silent

QUIET_PEAK_DBFS = SILENT_PEAK_DBFS


def is_quiet(samples: Any) -> bool:
    """True when no sample of the window reaches :data:`QUIET_PEAK_DBFS` (an empty window is quiet too).

    ``samples`` is the decoded window (float32 in [-1, 1]); max and min are taken without a copy of the array.
    """
    return is_silent(samples)
