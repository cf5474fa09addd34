"""worker/pre/level.py and worker/pre/shortfall.py: what the worker does with a decoded window before and after the
model.

The slow test is the issue's own case with the real tiny.en: the passage at a -60 dBFS peak, quantised to 16 bits as
``sox gain -n -60`` writes it, came back with no words; raised, it is heard as at full scale.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from shared.audio.level import peak_dbfs
from shared.contracts import Window
from tests.faults.bad_inputs import SPEECH_WAV
from tests.support.wer import wer
from worker.pre.level import TARGET_PEAK_DBFS, raised
from worker.pre.shortfall import TOLERANCE_S, audio_end_s

PASSAGE = (SPEECH_WAV.parent / "speech.txt").read_text()


def _at_peak(dbfs: float) -> np.ndarray:
    """The passage with its peak at ``dbfs``, quantised to 16 bits."""
    speech, _ = sf.read(SPEECH_WAV, dtype="float32")
    scaled = speech / np.abs(speech).max() * 10 ** (dbfs / 20)
    return (np.round(scaled * 32767) / 32767).astype(np.float32)


@pytest.mark.parametrize("dbfs", [-79.0, -60.0, -31.0])
def test_a_quiet_window_is_raised_to_the_target(dbfs: float) -> None:
    out = raised(_at_peak(dbfs))
    assert out.dtype == np.float32 and peak_dbfs(out) == pytest.approx(TARGET_PEAK_DBFS, abs=0.05)


@pytest.mark.parametrize("dbfs", [-29.0, -1.0])
def test_a_window_at_a_normal_level_is_left_as_decoded(dbfs: float) -> None:
    samples = _at_peak(dbfs)
    assert raised(samples) is samples


def test_silence_is_left_alone() -> None:
    zeros = np.zeros(16000, np.float32)
    assert raised(zeros) is zeros and raised(zeros[:0]) is not None


def test_where_the_audio_ran_out_of_a_window() -> None:
    window = Window(index=1, start_s=48.0, end_s=100.0, keep_start_s=50.0, keep_end_s=100.0)
    assert audio_end_s(window, 0) == 48.0
    assert audio_end_s(window, 10 * 16000) == 58.0
    assert audio_end_s(window, round((52.0 - TOLERANCE_S) * 16000)) is None  # an estimate's honest error
    assert audio_end_s(window, 52 * 16000) is None


@pytest.mark.slow
def test_speech_at_minus_60_dbfs_is_transcribed() -> None:
    from tests.unit.test_worker_quiet import heard_text

    text = heard_text(_at_peak(-60.0))
    assert wer(PASSAGE, text) <= 0.3, text
