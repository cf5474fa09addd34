from datetime import UTC, datetime, timedelta

from functions.transcription import JobFailed, failure_of
from shared.contracts import Window
from shared.progress import progress


def test_failure_codes_come_through_the_activity_failure_text() -> None:
    text = (
        "Activity function 'probe_audio' failed:  PermanentError: corrupt_audio: the bytes are not audio \n "
        '{"Message": "..."}'
    )
    assert failure_of(Exception(text)) == ("corrupt_audio", "the bytes are not audio")
    assert failure_of(JobFailed("segment_timeout", "segments [3] made no progress")) == (
        "segment_timeout",
        "segments [3] made no progress",
    )
    assert failure_of(Exception("Activity function 'x' failed:  KeyError: 'y'\n{}"))[0] == "transcription_failed"


def test_progress_counts_owned_audio_and_estimates_time_left() -> None:
    windows = [
        Window(index=i, start_s=max(0, i * 10 - 1), end_s=i * 10 + 11, keep_start_s=i * 10, keep_end_s=i * 10 + 10)
        for i in range(4)
    ]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    status = progress("transcribing", windows, {0, 1}, start, start + timedelta(seconds=20), 40.0)
    assert status == {
        "stage": "transcribing",
        "segments_done": 2,
        "segments_total": 4,
        "audio_seconds_done": 20.0,
        "audio_seconds_total": 40.0,
        "percent": 50.0,
        "eta_s": 20.0,
    }
    assert progress("transcribing", windows, set(), start, start, 40.0)["eta_s"] is None
