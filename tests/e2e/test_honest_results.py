"""Jobs that used to complete with a wrong or empty result as if all were well (issue 22), through the real stack:
Azurite, the devhost running function_app.py, two ``python -m worker`` processes with tiny.en on CPU.

- An MP3 whose Xing frame count declares 5 days holds 22 s: the probe measures it, the job plans one round of
  windows, and reports 22 s with a ``duration_mismatch`` warning (before: 438,262 s, 1,461 windows dispatched).
- An MP3 whose count declares 100 s, which its 132 KB could hold: believed by the probe, planned as 100 s, and the
  workers find the audio ending at 22 s: the job reports 22 s and warns (before: 100 s, silently).
- The passage at a -60 dBFS peak (``sox gain -n -60``): transcribed (before: 0 words).
- An MP4 whose default audio track is silent and whose second holds the passage: transcribed, in English (before:
  0 words, language null).
- 20 s of hiss: no words, and a ``no_words_heard`` warning on the job and the transcript; digital silence: no words
  and no warning.
- The caller's ``audio_stream`` reaches the probe: stream 0 of that MP4 (its silent track) is what is transcribed,
  and a stream the file does not have fails the job with ``audio_stream_not_found`` (before: the field was refused).
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from client.api import ApiError, TranscriptionApi
from client.uploads import upload_file
from devhost.stack import LocalStack
from shared.contracts import Transcript
from tests.faults import bad_inputs
from tests.faults.support import blobs
from tests.support.speed import scaled
from tests.support.wer import wer, words

pytestmark = pytest.mark.slow

PASSAGE = (bad_inputs.DATA / "speech.txt").read_text()
MAX_WER = 0.30  # as the bad-input catalogue: tiny.en gives 6-11 % on the passage, 30 % fails a lost sentence
REAL_S = 22.0
# The measured end is the last MPEG frame's (22.023 s for speech.mp3, whose honest header says 22.007 s).
DURATION_TOLERANCE_S = 0.1
# From runs on this 2-core machine shared with other suites (the slowest job here answered in ~40 s), with room for
# a slower CPU.
JOB_TIMEOUT_S = 240.0
FRAMES_PER_S = 22050 / 576  # speech.mp3: MPEG-2 layer III at 22.05 kHz


def _silence(folder: Path) -> Path:
    path = folder / "silence.wav"
    path.write_bytes((bad_inputs.DATA / "silence.wav").read_bytes())
    return path


CASES: dict[str, Callable[[Path], Path]] = {
    "declares_5_days": bad_inputs.lying_mp3(0x00FFFFFF, "five_days.mp3"),
    "declares_100_s": bad_inputs.lying_mp3(round(100 * FRAMES_PER_S), "hundred.mp3"),
    "at_minus_60_dbfs": bad_inputs.speech_at_peak(-60.0),
    "silent_default_track": bad_inputs.two_track_mp4,
    "hiss": bad_inputs.hiss,
    "silence": _silence,
}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(env={"TRANSCRIBE_EXPECTED_WORKERS": "2"}, workers=2, worker_threads=1) as running:
        yield running


def _run(stack: LocalStack, path: Path, audio_stream: int | None = None) -> tuple[dict[str, Any], Transcript]:
    body = _finished(stack, path, audio_stream)
    assert body["status"] == "completed", body
    api = TranscriptionApi(stack.base_url, stack.function_key)
    try:
        return body, Transcript.model_validate_json(api.transcript(body["job_id"], "json"))
    finally:
        api.close()


def _finished(stack: LocalStack, path: Path, audio_stream: int | None = None) -> dict[str, Any]:
    """The job's final body, for ``path`` uploaded through the client with the caller's ``audio_stream``."""
    api = TranscriptionApi(stack.base_url, stack.function_key)
    try:
        job_id = upload_file(api, path, audio_stream=audio_stream).job_id
        deadline = time.monotonic() + scaled(JOB_TIMEOUT_S)
        while True:
            done, body, _ = api.get_job(job_id)
            if done:
                break
            assert time.monotonic() < deadline, f"job {job_id} still running: {body}"
            time.sleep(0.25)
        return body
    finally:
        api.close()


@pytest.fixture(scope="module")
def outcomes(
    stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, concurrent.futures.Future[tuple[dict[str, Any], Transcript]]]]:
    folder = tmp_path_factory.mktemp("honest")
    with concurrent.futures.ThreadPoolExecutor(len(CASES)) as pool:
        futures = {}
        for name, make in CASES.items():
            (folder / name).mkdir()
            futures[name] = pool.submit(_run, stack, make(folder / name))
        yield futures


def _outcome(outcomes: dict[str, Any], name: str) -> tuple[dict[str, Any], Transcript]:
    result: tuple[dict[str, Any], Transcript] = outcomes[name].result(timeout=JOB_TIMEOUT_S + 60)
    return result


def _codes(warnings: list[Any]) -> list[str]:
    return [w["code"] if isinstance(w, dict) else w.code for w in warnings]


def _segment_results(stack: LocalStack, job_id: str) -> int:
    container = blobs(stack).get_container_client("segments")
    return sum(1 for b in container.list_blobs(name_starts_with=f"{job_id}/") if "/inflight/" not in b.name)


@pytest.mark.parametrize("case", ["declares_5_days", "declares_100_s"])
def test_a_file_holding_less_than_its_headers_declare_reports_what_it_holds(
    outcomes: dict[str, Any], stack: LocalStack, case: str
) -> None:
    body, transcript = _outcome(outcomes, case)
    result = body["result"]
    assert result["duration_s"] == pytest.approx(REAL_S, abs=DURATION_TOLERANCE_S)
    assert transcript.duration_s == result["duration_s"]
    assert _codes(result["warnings"]) == _codes(transcript.warnings) == ["duration_mismatch"]
    assert _segment_results(stack, body["job_id"]) <= 2  # one round of the two workers, not hundreds of windows
    assert wer(PASSAGE, transcript.text) <= MAX_WER, transcript.text


@pytest.mark.parametrize("case", ["at_minus_60_dbfs", "silent_default_track"])
def test_speech_that_was_lost_is_heard(outcomes: dict[str, Any], case: str) -> None:
    body, transcript = _outcome(outcomes, case)
    assert wer(PASSAGE, transcript.text) <= MAX_WER, transcript.text
    assert body["result"]["language"] == transcript.language == "en"
    assert body["result"]["warnings"] == transcript.warnings == []


def test_no_words_from_sound_is_said_on_the_job_and_the_transcript(outcomes: dict[str, Any]) -> None:
    body, transcript = _outcome(outcomes, "hiss")
    assert words(transcript.text) == [] and body["result"]["words"] == 0
    assert _codes(body["result"]["warnings"]) == _codes(transcript.warnings) == ["no_words_heard"]


def test_silence_gives_no_words_and_no_warning(outcomes: dict[str, Any]) -> None:
    body, transcript = _outcome(outcomes, "silence")
    assert words(transcript.text) == [] and body["result"]["warnings"] == transcript.warnings == []


def test_the_callers_audio_stream_is_the_one_transcribed(stack: LocalStack, tmp_path: Path) -> None:
    chosen, transcript = _run(stack, bad_inputs.two_track_mp4(tmp_path), audio_stream=0)
    assert not words(transcript.text)  # stream 0 is the silent track: the default choice would have heard speech
    assert chosen["result"]["words"] == 0 and not _codes(chosen["result"].get("warnings") or [])


def test_an_audio_stream_the_file_does_not_have_fails_the_job_with_its_code(stack: LocalStack, tmp_path: Path) -> None:
    with pytest.raises(ApiError) as failed:  # a failed job is a final 422 job_failed problem (docs/api.md)
        _finished(stack, bad_inputs.two_track_mp4(tmp_path), audio_stream=5)
    problem = failed.value.problem
    assert (failed.value.status, problem["code"], problem["job_error_code"]) == (
        422,
        "job_failed",
        "audio_stream_not_found",
    )
    assert "2 audio streams" in problem["detail"]
