"""Where a window's audio ran out, when the file ends well before the window does.

The planner cuts windows up to the duration the probe found; a file that holds less than that (headers that
declare more than is there, an estimate from the bitrate that was too long) gives windows that end early or hold
nothing. The worker says where its audio ended (``SegmentResult.audio_end_s``), and the merge reports the job's
real duration with a ``duration_mismatch`` warning rather than the declared one (shared/transcripts/warnings.py).

A window may come back a little short for honest reasons: the last window ends at the declared duration, which
FFmpeg rounds or estimates (an MP3's padding, 16 ms in ``speech.mp3``), and a damaged MP3 loses the frames that do
not parse (0.65 s for 4 KB at 48 kb/s, tests/faults/test_bad_inputs.py). Only a shortfall over :data:`TOLERANCE_S`
is reported.
"""

from __future__ import annotations

from shared.audio.pcm import SAMPLE_RATE

from shared.contracts import Window

TOLERANCE_S = 1.0


def audio_end_s(window: Window, samples: int) -> float | None:
    """Where the audio ended inside ``window`` when it gave ``samples`` 16 kHz samples, or ``None`` when the window
    is whole (short by at most :data:`TOLERANCE_S`)."""
    expected = round(window.end_s * SAMPLE_RATE) - round(window.start_s * SAMPLE_RATE)
    if expected - samples <= TOLERANCE_S * SAMPLE_RATE:
        return None
    return round(window.start_s + samples / SAMPLE_RATE, 3)
