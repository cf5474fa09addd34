"""shared/transcripts/warnings.py: what a completed job must say about itself, from the windows' results as they
stream by."""

from __future__ import annotations

import pytest

from shared.contracts import AudioInfo, JobWarning, SegmentResult, Window
from shared.transcripts.warnings import Findings

MP3 = AudioInfo(format="mp3", codec="mp3", duration_s=100.0, sample_rate=22050, channels=1, decoder="av")


def _result(index: int, start: float, end: float, audio_end_s: float | None, peak: float | None) -> SegmentResult:
    window = Window(index=index, start_s=start, end_s=end, keep_start_s=start, keep_end_s=end)
    return SegmentResult(
        job_id="j",
        index=index,
        window=window,
        language=None,
        segments=[],
        audio_end_s=audio_end_s,
        peak_dbfs=peak,
        model="tiny.en",
        device="cpu",
        compute_type="int8",
        decode_s=0.0,
        transcribe_s=0.0,
        worker_id="w",
    )


def _findings(audio: AudioInfo, *results: SegmentResult) -> Findings:
    found = Findings(audio)
    for result in results:
        found.offer(result)
    return found


def test_audio_that_ends_early_sets_the_duration_and_warns() -> None:
    found = _findings(MP3, _result(0, 0, 52, 22.02, -1.0), _result(1, 48, 100, 48.0, None))
    assert found.duration_s() == 22.02
    [warning] = found.warnings(words=60)
    assert warning.code == "duration_mismatch" and "100.0 s" in warning.message and "22.0 s" in warning.message


def test_a_duration_the_probe_measured_instead_warns_too() -> None:
    measured = MP3.model_copy(update={"duration_s": 22.02, "declared_duration_s": 438_261.9})
    found = _findings(measured, _result(0, 0, 22.02, None, -1.0))
    assert found.duration_s() == 22.02
    assert [w.code for w in found.warnings(words=60)] == ["duration_mismatch"]
    assert "438261.9 s" in found.warnings(words=60)[0].message


def test_no_words_from_sound_warns_but_not_from_silence_or_dither() -> None:
    loud = _findings(MP3, _result(0, 0, 50, None, -40.0), _result(1, 50, 100, None, None))
    assert loud.warnings(words=0) == [JobWarning(code="no_words_heard", message=loud.warnings(words=0)[0].message)]
    assert "-40.0 dBFS" in loud.warnings(words=0)[0].message
    assert loud.warnings(words=3) == []
    assert _findings(MP3, _result(0, 0, 100, None, None)).warnings(words=0) == []  # digital silence
    assert _findings(MP3, _result(0, 0, 100, None, -84.3)).warnings(words=0) == []  # +-2 steps of dither


@pytest.mark.parametrize("field", ["audio_end_s", "peak_dbfs"])
def test_results_from_workers_before_these_fields_read_as_whole_and_silent(field: str) -> None:
    old = _result(0, 0, 100, None, None).model_dump()
    del old[field]
    result = SegmentResult.model_validate(old)
    assert _findings(MP3, result).duration_s() == 100.0 and _findings(MP3, result).warnings(words=5) == []
