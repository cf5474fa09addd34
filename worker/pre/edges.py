"""Where a window's audio should begin and end: at the quietest moment of its overlap, not in the middle of a word.

A window is cut every N seconds, so its first sample usually falls inside a word. Whisper then sometimes skips
ahead: given ``long.flac`` from 8.50 s (the middle of "picnic"), tiny.en returned nothing before 13.80 s and lost
"Please find a seat and turn off your phone", which the window was meant to cover from 10.0 s; from 8.40, 9.00 or
9.50 s it heard the sentence (tests/unit/test_worker_edges.py has the case). The words lost were in the next
window's keep range, so the stitcher could not get them back from this one.

The overlap gives room to move: a window decodes ``keep_start - start`` seconds before its keep range and
``end - keep_end`` after it, and words there belong to the neighbours anyway. So the transcriber starts the audio at
the quietest 20 ms of the lead-in (the earliest one that is nearly as quiet, to keep context) and ends it at the
quietest of the tail (the latest one), which is a pause between words whenever the overlap holds one. The keep
range itself is never cut.
"""

from __future__ import annotations

from typing import Any

FRAME_S = 0.02
HOP_S = 0.01
# A frame within 10 dB of the quietest one is quiet, and so is anything under -60 dBFS (digital silence, hiss).
QUIET_RANGE = 10.0
SILENCE_POWER = 1e-6


def quiet_edges(samples: Any, rate: int, lead_s: float, tail_s: float) -> tuple[int, int]:
    """``(first, stop)``: transcribe ``samples[first:stop]``; ``first`` lies in the first ``lead_s`` seconds and
    ``stop`` in the last ``tail_s`` seconds (0 leaves that edge where it is).

    Each cut goes to the middle of the longest quiet stretch of its edge: a pause between words or sentences
    lasts longer than the near-silent closure of a stop consonant inside a word (``picnic``), which a cut at the
    single quietest frame would pick. Ties go to the stretch farther from the keep range (more context).
    """
    import numpy as np

    total = len(samples)
    lead = min(max(int(lead_s * rate), 0), total)
    tail = min(max(int(tail_s * rate), 0), total - lead)
    frame, hop = max(int(FRAME_S * rate), 1), max(int(HOP_S * rate), 1)
    first, stop = 0, total
    if lead >= frame:
        first = _cut(np.asarray(samples[:lead], dtype=np.float64), frame, hop, prefer_late=False)
    if tail >= frame:
        stop = total - tail + _cut(np.asarray(samples[total - tail :], dtype=np.float64), frame, hop, prefer_late=True)
    return first, stop


def _cut(region: Any, frame: int, hop: int, *, prefer_late: bool) -> int:
    """Sample index (within ``region``) at the middle of its longest quiet stretch."""
    import numpy as np

    squares = np.concatenate([[0.0], np.cumsum(region * region)])
    starts = np.arange(0, len(region) - frame + 1, hop)
    power = (squares[starts + frame] - squares[starts]) / frame
    quiet = power <= max(float(power.min()) * 10 ** (QUIET_RANGE / 10), SILENCE_POWER)
    best: tuple[int, int] = (0, 0)  # (length in frames, first frame)
    run_start = None
    for i, is_quiet in enumerate([*quiet.tolist(), False]):
        if is_quiet and run_start is None:
            run_start = i
        elif not is_quiet and run_start is not None:
            length = i - run_start
            if length > best[0] or (prefer_late and length == best[0]):
                best = (length, run_start)
            run_start = None
    length, begin = best
    return int(starts[begin] + (length - 1) * hop // 2 + frame // 2)
