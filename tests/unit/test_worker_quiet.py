"""worker/pre/quiet.py: which windows skip the model. Only windows with no speech in them may: digital silence and a
recorder's dither. Quiet speech above the floor is raised and heard (worker/pre/level.py), checked with the real
tiny.en."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from shared.contracts import Window
from tests.support import recording
from worker.engines.whisper import Transcriber
from worker.pre.quiet import QUIET_PEAK_DBFS, is_quiet

SPEECH = Path(__file__).resolve().parent.parent / "data" / "speech_16k_mono.wav"


def at_peak(dbfs: float) -> np.ndarray:
    """The passage scaled so that its loudest sample is at ``dbfs``."""
    speech, _ = sf.read(SPEECH, dtype="float32")
    return (speech / np.abs(speech).max() * 10 ** (dbfs / 20)).astype(np.float32)


@cache
def model() -> Transcriber:
    return recording.transcriber(threads=1, batch_size=2)  # the workers' CPU default


def heard(samples: np.ndarray) -> int:
    """Words the worker's pipeline (VAD + tiny.en, batch 2) finds in the samples."""
    return len(heard_text(samples).split())


def heard_text(samples: np.ndarray) -> str:
    """What the worker's pipeline (VAD + tiny.en, batch 2) makes of the samples."""
    end = len(samples) / 16000
    window = Window(index=0, start_s=0, end_s=end, keep_start_s=0, keep_end_s=end)
    segments = model().transcribe(samples, window).segments
    return " ".join(s.text for s in segments)


def test_digital_silence_and_an_empty_window_are_quiet() -> None:
    assert is_quiet(np.zeros(600 * 16000, np.float32))
    assert is_quiet(np.zeros(0, np.float32))


def test_dither_is_quiet() -> None:
    """+-2 steps of 16-bit audio (-84 dBFS), the noise floor a recorder leaves in an empty room."""
    noise = np.random.default_rng(1).integers(-2, 3, 30 * 16000) / 32768
    assert is_quiet(noise.astype(np.float32))


@pytest.mark.parametrize("dbfs", [-50.0, -56.0, -60.0, -66.0, -76.0])
def test_speech_above_the_threshold_is_not_quiet(dbfs: float) -> None:
    assert not is_quiet(at_peak(dbfs))


def test_one_click_in_silence_sends_the_window_to_the_model() -> None:
    window = np.zeros(600 * 16000, np.float32)
    window[123_456] = -(10 ** (-65 / 20))  # one negative sample: the peak is taken on both sides
    assert not is_quiet(window)


def test_speech_just_under_the_threshold_is_quiet() -> None:
    assert is_quiet(at_peak(QUIET_PEAK_DBFS - 0.1))


@pytest.mark.slow
def test_quiet_speech_is_heard_not_skipped() -> None:
    """Before issue 22 the passage at a -58 dBFS peak gave no words (the VAD missed it) and the skip began at
    -70 dBFS; now the window is raised before the VAD, so speech 4 dB above the floor is heard as at full scale."""
    full = heard(at_peak(-1.0))
    assert heard(at_peak(-58.0)) >= full - 5 and not is_quiet(at_peak(-58.0))
    assert heard(at_peak(QUIET_PEAK_DBFS + 4)) >= full - 5
