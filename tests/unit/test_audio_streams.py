"""Which audio stream of a multi-track file is transcribed (shared/audio/streams.py), and that every window decodes it.

Issue 22: an MP4 whose first (default) audio track was silent and whose second held the speech completed with no
words and no language: FFmpeg's "best" stream is the default one. Files are made here with PyAV (AAC in MP4).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.audio.decode import read_window
from shared.audio.level import peak_dbfs, sounds
from shared.audio.probe import probe
from shared.errors import ErrorCode, PermanentError
from tests.faults.bad_inputs import DATA, two_track_mp4

SPEECH_PEAK_DBFS = -3.0  # the passage peaks near full scale; AAC keeps it within a few dB


def _probe_and_decode(path: Path) -> tuple[int | None, float | None]:
    with path.open("rb") as f:
        info = probe(f, path.name)
        samples = read_window(f, info, 5.0, 15.0)
    assert len(samples) == 10 * 16000
    return info.stream_index, peak_dbfs(samples)


def test_the_track_with_sound_is_chosen_over_a_silent_default(tmp_path: Path) -> None:
    index, loudest = _probe_and_decode(two_track_mp4(tmp_path, speech_track=1))
    assert index == 1
    assert loudest is not None and loudest > SPEECH_PEAK_DBFS - 10


def test_the_default_track_is_kept_when_it_has_sound(tmp_path: Path) -> None:
    index, loudest = _probe_and_decode(two_track_mp4(tmp_path, speech_track=0))
    assert index == 0
    assert loudest is not None and loudest > SPEECH_PEAK_DBFS - 10


def test_with_no_sound_anywhere_the_default_track_is_transcribed(tmp_path: Path) -> None:
    index, loudest = _probe_and_decode(two_track_mp4(tmp_path, speech_track=None))
    assert index == 0 and not sounds(loudest)


def test_a_single_stream_file_names_no_stream(tmp_path: Path) -> None:
    with (DATA / "speech.m4a").open("rb") as f:
        assert probe(f, "speech.m4a").stream_index is None


def test_the_caller_may_pick_a_stream_even_a_silent_one(tmp_path: Path) -> None:
    path = two_track_mp4(tmp_path, speech_track=1)
    for wanted, sound in ((0, False), (1, True)):
        with path.open("rb") as f:
            info = probe(f, path.name, audio_stream=wanted)
            samples = read_window(f, info, 5.0, 15.0)
        assert info.stream_index == wanted and sounds(peak_dbfs(samples)) is sound


@pytest.mark.parametrize(("clip", "wanted"), [("two_tracks.mp4", 2), ("speech_16k_mono.wav", 1), ("speech.m4a", 1)])
def test_a_stream_the_file_does_not_have_fails_with_its_own_code(tmp_path: Path, clip: str, wanted: int) -> None:
    path = two_track_mp4(tmp_path) if clip == "two_tracks.mp4" else DATA / clip
    with path.open("rb") as f, pytest.raises(PermanentError) as caught:
        probe(f, clip, audio_stream=wanted)
    assert caught.value.code is ErrorCode.AUDIO_STREAM_NOT_FOUND and "numbered from 0" in caught.value.detail


def test_stream_0_of_a_single_stream_file_is_its_stream() -> None:
    for clip in ("speech_16k_mono.wav", "speech.m4a"):
        with (DATA / clip).open("rb") as f:
            assert probe(f, clip, audio_stream=0).duration_s > 20
