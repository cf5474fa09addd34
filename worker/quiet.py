"""Windows with nothing to hear skip the model: digital silence, or audio far below the quietest speech it hears.

A 10-hour recording of an empty room is 60 windows of 600 s; each took the worker ~1 s of a core (Silero VAD over
the whole window, then nothing to decode), so the job cost a minute of worker time to say nothing (~2 min commit to
answer on this machine's 2 loaded cores, tests/faults/test_bad_inputs.py). A window's peak level is found in ~2 ms
(600 s at 16 kHz, measured here): with the skip the same job took 14-16 s.

The threshold is measured, not guessed: the passage (tests/data/speech_16k_mono.wav) scaled to a peak of -50 dBFS
is transcribed in full by the worker's pipeline (VAD + tiny.en, batch 2), at -56 dBFS in part (40 of 65 words),
at -58 dBFS and below not at all. A window whose loudest sample is under -70 dBFS is therefore 14 dB below
anything the model would have heard, so skipping it changes no transcript: it only saves the work. Hiss, hum or a
single click above that level sends the window to the model as before.
"""

from __future__ import annotations

from typing import Any

QUIET_PEAK_DBFS = -70.0
QUIET_PEAK = 10 ** (QUIET_PEAK_DBFS / 20)  # 3.2e-4 of full scale: about 10 steps of 16-bit audio


def is_quiet(samples: Any) -> bool:
    """True when no sample of the window reaches :data:`QUIET_PEAK_DBFS` (an empty window is quiet too).

    ``samples`` is the decoded window (float32 in [-1, 1]); max and min are taken without a copy of the array.
    """
    if len(samples) == 0:
        return True
    return max(float(samples.max()), -float(samples.min())) < QUIET_PEAK
