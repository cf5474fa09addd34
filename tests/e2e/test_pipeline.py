"""The whole pipeline on one machine: upload → blob trigger → orchestrator → 2 workers → merge → transcripts.

Real parts only: Azurite, the devhost running function_app.py, `python -m worker` processes with faster-whisper
tiny.en on CPU, and espeak-ng speech committed under tests/data. Two windowings: what customers get (>= 30 s
windows), and short windows (20 s, 1.5 s overlap) so that even these clips are cut at several seams mid-sentence.

The comparisons with a single faster-whisper pass measure the model as much as the pipeline: every window gives
tiny.en other context, and its int8 kernels differ between CPUs. Their tolerances (tests/support/fidelity.py) come
from bench/fidelity_spread.py; the stitching itself is checked exactly, on recorded worker outputs, in
tests/unit/test_stitching_recorded.py, which also shows these tolerances catch a broken stitcher.
"""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import numpy
import pytest
import soundfile
from azure.storage.blob import BlobBlock, BlobClient, BlobServiceClient
from azure.storage.queue import QueueClient

from client.api import TranscriptionApi
from client.uploads import upload_file
from devhost.stack import LocalStack
from shared.blocks import block_name
from shared.contracts import Transcript, Word
from shared.jobs.records import JobStatus
from shared.jobs.store import JobStore
from tests.support import recording
from tests.support.fidelity import E2E_TOLERANCES, WER_TOLERANCE, compare, problems
from tests.support.speed import scaled
from tests.support.wer import errors, words

DATA = Path(__file__).resolve().parent.parent / "data"
HOOK = "/runtime/webhooks/durabletask/instances"
SHORT, PRODUCTION = recording.PLANS["short"], recording.PLANS["production"]
PIPELINE_ENV = {
    "TRANSCRIBE_SEGMENT_WINDOW_S": str(SHORT["window_s"]),
    "TRANSCRIBE_SEGMENT_MIN_WINDOW_S": str(SHORT["min_window_s"]),
    "TRANSCRIBE_SEGMENT_OVERLAP_S": str(SHORT["overlap_s"]),
    "TRANSCRIBE_EXPECTED_WORKERS": str(SHORT["workers"]),
    "TRANSCRIBE_SEGMENT_TIMEOUT_S": "120",
}


@pytest.fixture(scope="module")
def production_windows() -> Iterator[LocalStack]:
    """The default windowing (≥ 30 s windows, 2 s overlap) with 2 workers: what customers get."""
    env = {"TRANSCRIBE_EXPECTED_WORKERS": str(PRODUCTION["workers"])}  # the rest are the defaults
    with LocalStack(env=env, workers=2, worker_threads=1) as stack:
        yield stack


@pytest.fixture(scope="module")
def pipeline() -> Iterator[LocalStack]:
    """Short windows (~11-20 s) so that even these clips get several seams, some mid-sentence."""
    with LocalStack(env=PIPELINE_ENV, workers=2, worker_threads=1, worker_args=["--visibility-timeout", "8"]) as stack:
        yield stack


@cache
def single_pass(path: Path) -> list[Word]:
    """faster-whisper directly on the whole file, same model and decoding options as the workers, 1 thread."""
    return recording.single_pass(_model(), path)


@cache
def _model() -> Any:
    return recording.transcriber(threads=1)


def seams(path: Path, planning: dict[str, Any]) -> list[float]:
    _, windows = recording.plan(path, **planning)
    return [w.keep_start_s for w in windows[1:]]


def transcribe(stack: LocalStack, path: Path, timeout_s: float = 180) -> tuple[dict[str, Any], str]:
    api = TranscriptionApi(stack.base_url, stack.function_key)
    try:
        job_id = upload_file(api, path).job_id
    finally:
        api.close()
    return wait_done(stack, job_id, timeout_s), job_id


def wait_done(stack: LocalStack, job_id: str, timeout_s: float) -> dict[str, Any]:
    timeout_s = scaled(timeout_s)  # tests/support/speed.py: this machine's pace
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=stack.base_url, params=stack.durable_params, timeout=30) as http:
        while time.monotonic() < deadline:
            response = http.get(f"{HOOK}/{job_id}")
            if response.status_code == 200:
                return dict(response.json())
            time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s} s")


def transcript(stack: LocalStack, job_id: str, ext: str = "json") -> bytes:
    blobs = BlobServiceClient.from_connection_string(stack.connection_string)
    return blobs.get_blob_client("results", f"{job_id}/transcript.{ext}").download_blob().readall()


CLIPS = recording.CORPUS
_runs: dict[tuple[int, str], tuple[dict[str, Any], Transcript]] = {}


def pipeline_run(stack: LocalStack, clip: str) -> tuple[dict[str, Any], Transcript]:
    """Each clip goes through the pipeline once per test session; several tests look at the result."""
    key = (id(stack), clip)
    if key not in _runs:
        status, job_id = transcribe(stack, DATA / clip)
        assert status["runtimeStatus"] == "Completed", status["output"]
        _runs[key] = status, Transcript.model_validate_json(transcript(stack, job_id))
    return _runs[key]


def test_transcripts_are_as_good_as_a_single_pass(production_windows: LocalStack) -> None:
    """Corpus WER (five formats, and a 73 s clip cut into two windows) within 2.5 points of a single faster-whisper
    pass, and each clip's words and times within the e2e tolerances of it.

    Why 2.5 points: the single pass itself moved by up to +1.12 points (6 of 535 words) when its audio was shifted
    by 0.013-0.51 s, on each of 12 CPU variants, and the pipeline by up to +1.31 (bench/fidelity_spread.py,
    docs/benchmarks.md); the bound is twice that. The previous bound, 0.5 points, was narrower than the model's own
    spread, which is why it failed on another CPU.
    """
    totals = {"ours": 0, "single": 0, "words": 0}
    found: dict[str, list[str]] = {}
    for clip, text_file in CLIPS.items():
        status, result = pipeline_run(production_windows, clip)
        if clip == "long.flac":
            assert status["customStatus"]["segments_total"] == 2
        reference = (DATA / text_file).read_text()
        baseline = single_pass(DATA / clip)
        totals["ours"] += errors(reference, result.text)
        totals["single"] += errors(reference, " ".join(w.word for w in baseline))
        totals["words"] += len(words(reference))
        assert status["output"]["words"] == sum(len(s.words) for s in result.segments) > 40
        ours = [w for s in result.segments for w in s.words]
        if trouble := problems(compare(ours, baseline), seams(DATA / clip, PRODUCTION), E2E_TOLERANCES):
            found[clip] = trouble
    assert found == {}
    ours_wer, single_wer = totals["ours"] / totals["words"], totals["single"] / totals["words"]
    assert ours_wer <= single_wer + WER_TOLERANCE, f"pipeline WER {ours_wer:.4f} vs single pass {single_wer:.4f}"


def test_every_format_is_written(production_windows: LocalStack) -> None:
    status, result = pipeline_run(production_windows, "speech_16k_mono.wav")
    job_id = result.job_id
    for ext, marker in (("txt", b"farm"), ("srt", b" --> "), ("vtt", b"webvtt")):
        assert marker in transcript(production_windows, job_id, ext).lower()
    assert status["output"]["transcripts"] == {
        ext: f"{job_id}/transcript.{ext}" for ext in ("json", "txt", "srt", "vtt")
    }


def test_seams_lose_and_duplicate_nothing_and_keep_time(pipeline: LocalStack) -> None:
    """Short windows: long.flac is cut at 20, 40 and 60 s, mid-sentence. Against a single pass: the word count
    within 2 (±1 per seam), the median word time within 50 ms, >= 90 % of words within 0.3 s and none over 1.5 s
    (tests/support/fidelity.py says where each bound comes from). A broken stitcher fails these (see
    tests/unit/test_stitching_recorded.py::test_a_broken_stitcher_fails_the_end_to_end_tolerances)."""
    clip = DATA / "long.flac"
    status, result = pipeline_run(pipeline, "long.flac")
    assert status["customStatus"]["segments_total"] >= 4  # more segments than the 2 workers
    ours = [w for s in result.segments for w in s.words]
    starts = [w.start for w in ours]
    assert starts == sorted(starts)
    comparison = compare(ours, single_pass(clip))
    assert problems(comparison, seams(clip, SHORT), E2E_TOLERANCES) == [], comparison.summary()


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda tmp: DATA / "not_audio.wav", "corrupt_audio"),
        (lambda tmp: DATA / "truncated.flac", "corrupt_audio"),
        (lambda tmp: _header_only_wav(tmp), "empty_audio"),
        (lambda tmp: _wav_variant(tmp, "one_hertz.wav", rate=1), "corrupt_audio"),  # 98 h of "audio" otherwise
        (lambda tmp: _wav_variant(tmp, "cut.wav", keep_bytes=44 + 32000 * 5), "corrupt_audio"),  # half uploaded
    ],
)
def test_bad_uploads_fail_fast_with_their_code(pipeline: LocalStack, tmp_path: Path, make: Any, code: str) -> None:
    started = time.monotonic()
    status, job_id = transcribe(pipeline, make(tmp_path), timeout_s=60)
    assert status["runtimeStatus"] == "Failed"
    assert status["customStatus"]["error"]["code"] == code
    assert time.monotonic() - started < 30
    record = _jobs(pipeline).get(job_id)
    assert (record.status, record.error and record.error.code) == (JobStatus.FAILED, code)


def _stage(http: httpx.Client, job_id: str) -> str | None:
    response = http.get(f"{HOOK}/{job_id}")
    if response.status_code == 404:
        return None
    return (response.json().get("customStatus") or {}).get("stage")


def _header_only_wav(tmp: Path) -> Path:
    path = tmp / "header_only.wav"
    soundfile.write(path, [], 16000, subtype="PCM_16")
    return path


def _wav_variant(tmp: Path, name: str, rate: int | None = None, keep_bytes: int | None = None) -> Path:
    """speech_16k_mono.wav with a lying sample rate, or cut short while its header still declares all 22 s."""
    data = bytearray((DATA / "speech_16k_mono.wav").read_bytes())
    if rate is not None:
        struct.pack_into("<II", data, 24, rate, rate * 2)
    path = tmp / name
    path.write_bytes(bytes(data[:keep_bytes] if keep_bytes else data))
    return path


def _jobs(stack: LocalStack) -> JobStore:
    return JobStore(BlobServiceClient.from_connection_string(stack.connection_string).get_container_client("jobs"))


def test_a_worker_killed_mid_segment_does_not_stop_the_job(pipeline: LocalStack) -> None:
    victim = pipeline.workers[0]
    api = TranscriptionApi(pipeline.base_url, pipeline.function_key)
    job_id = upload_file(api, DATA / "long.flac").job_id
    api.close()
    deadline = time.monotonic() + scaled(60)
    while "segment started" not in victim.log_tail(20):
        assert time.monotonic() < deadline, "the worker never took a segment"
        time.sleep(0.05)
    os.killpg(victim.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
    status = wait_done(pipeline, job_id, timeout_s=180)
    assert status["runtimeStatus"] == "Completed", status["output"]
    result = Transcript.model_validate_json(transcript(pipeline, job_id))
    assert result.text == pipeline_run(pipeline, "long.flac")[1].text  # same words as an undisturbed run
    pipeline.replace_worker(0)


def test_an_upload_overwritten_mid_job_does_not_change_the_transcript(pipeline: LocalStack) -> None:
    """The customer's SAS can still write for its hour: once segments have started, the same blob is overwritten
    with other bytes and committed again. The job reads the snapshot taken at the first commit, so it completes
    with the first recording's words, the same as an undisturbed run's."""
    api = TranscriptionApi(pipeline.base_url, pipeline.function_key)
    try:
        created = api.create_upload({"filename": "long.flac", "size_bytes": (DATA / "long.flac").stat().st_size})
    finally:
        api.close()
    job_id = created["job_id"]
    blob = BlobClient.from_blob_url(created["upload"]["url"])
    audio = (DATA / "long.flac").read_bytes()
    blob.stage_block(block_name(0), audio)
    blob.commit_block_list([BlobBlock(block_name(0))])
    deadline = time.monotonic() + scaled(60)
    while not _started(pipeline, job_id):
        assert time.monotonic() < deadline, "no segment started"
        time.sleep(0.05)
    blob.stage_block(block_name(0), bytes(len(audio)))  # same size, all zeros
    blob.commit_block_list([BlobBlock(block_name(0))])
    status = wait_done(pipeline, job_id, timeout_s=180)
    assert status["runtimeStatus"] == "Completed", status["output"]
    result = Transcript.model_validate_json(transcript(pipeline, job_id))
    assert result.text == pipeline_run(pipeline, "long.flac")[1].text


def _started(stack: LocalStack, job_id: str) -> set[int]:
    """Indices of the job's segments that some worker began transcribing (from the workers' logs)."""
    found = re.findall(
        rf"segment started job_id={job_id} index=(\d+)", "".join(w.log_tail(2000) for w in stack.workers)
    )
    return {int(i) for i in found}


def test_a_canceled_job_stops_and_workers_skip_its_segments(pipeline: LocalStack) -> None:
    """After the job record says canceled, no worker starts another of its segments; the ones queued are skipped,
    only segments already started may finish, and nothing is merged."""
    api = TranscriptionApi(pipeline.base_url, pipeline.function_key)
    job_id = upload_file(api, DATA / "long.flac").job_id
    api.close()
    with httpx.Client(base_url=pipeline.base_url, params=pipeline.durable_params, timeout=30) as http:
        deadline = time.monotonic() + scaled(60)
        while _stage(http, job_id) != "transcribing":  # its segments are on the queue
            assert time.monotonic() < deadline
            time.sleep(0.05)
        _jobs(pipeline).update(job_id, lambda r: r.model_copy(update={"status": JobStatus.CANCELED}))
        time.sleep(0.5)  # a worker that read the record just before the update logs its start within milliseconds
        started_before_cancel = _started(pipeline, job_id)
        assert http.post(f"{HOOK}/{job_id}/terminate", params={"reason": "canceled"}).status_code == 202
        status = wait_done(pipeline, job_id, timeout_s=30)
    assert status["runtimeStatus"] == "Terminated"
    skipped = f"skipping a segment of a finished job job_id={job_id}"
    deadline = time.monotonic() + scaled(60)
    while skipped not in "".join(w.log_tail(400) for w in pipeline.workers):
        assert time.monotonic() < deadline, "no worker skipped the canceled job's queued segments"
        time.sleep(0.2)
    time.sleep(1.0)  # let anything still running finish, so a late start would show
    blobs = BlobServiceClient.from_connection_string(pipeline.connection_string)
    done = {
        int(b.name.rsplit("/", 1)[1].split(".")[0])
        for b in blobs.get_container_client("segments").list_blobs(name_starts_with=f"{job_id}/")
        if "/inflight/" not in b.name  # a taken mark is not a result
    }
    assert _started(pipeline, job_id) == started_before_cancel, "a segment started after the job was canceled"
    assert done <= started_before_cancel
    segments = len(recording.plan(DATA / "long.flac", **SHORT)[1])
    assert len(started_before_cancel) < segments, "every segment had started: the test shows nothing"
    assert not list(blobs.get_container_client("results").list_blobs(name_starts_with=f"{job_id}/"))
    assert json.dumps(status["output"]) == '"canceled"'


def test_a_cancel_stops_a_segment_that_is_already_running(tmp_path: Path) -> None:
    """A 300 s window takes a CPU worker tens of seconds; a cancel must not wait for it to finish. The worker looks
    at the job between decoded chunks (every 2 s at most) and drops the window: no result is written."""
    audio, rate = soundfile.read(DATA / "long.flac", dtype="int16")
    path = tmp_path / "six_minutes.wav"
    soundfile.write(path, numpy.tile(audio, 5), rate, subtype="PCM_16")  # 366 s: windows of 300 s and 66 s
    env = {"TRANSCRIBE_EXPECTED_WORKERS": "1", "TRANSCRIBE_SEGMENT_TIMEOUT_S": "600"}
    with LocalStack(env=env, workers=1, worker_threads=1) as stack:
        api = TranscriptionApi(stack.base_url, stack.function_key)
        try:
            job_id = upload_file(api, path).job_id
        finally:
            api.close()
        deadline = time.monotonic() + scaled(60)
        while not _started(stack, job_id):
            assert time.monotonic() < deadline, "the worker never took a segment"
            time.sleep(0.1)
        time.sleep(2.0)  # well into the 300 s window
        with httpx.Client(base_url=stack.base_url, headers={"x-functions-key": stack.function_key}) as http:
            canceled_at = time.monotonic()
            assert http.delete(f"/api/jobs/{job_id}").status_code == 202
        stopped = f"stopped a segment of a canceled job job_id={job_id}"
        while stopped not in stack.workers[0].log_tail(200):
            assert time.monotonic() - canceled_at < 20, "the running segment was not stopped"
            time.sleep(0.2)
        blobs = BlobServiceClient.from_connection_string(stack.connection_string)
        written = blobs.get_container_client("segments").list_blobs(name_starts_with=f"{job_id}/")
        assert not [b.name for b in written if "/inflight/" not in b.name]  # no result (the taken mark stays)


def test_segments_no_worker_takes_fail_the_job_once_the_queue_limit_passes() -> None:
    """No worker at all: a deadline finds the segments untaken (still queued), so they are not sent again; once
    they have waited the queue limit the job fails with segment_timeout saying no worker took them."""
    env = {**PIPELINE_ENV, "TRANSCRIBE_SEGMENT_TIMEOUT_S": "1", "TRANSCRIBE_SEGMENT_QUEUE_TIMEOUT_S": "4"}
    with LocalStack(env=env, workers=0) as stack:
        started = time.monotonic()
        status, _ = transcribe(stack, DATA / "speech_16k_mono.wav", timeout_s=60)
        queued = QueueClient.from_connection_string(stack.connection_string, "segment-jobs").get_queue_properties()
    assert status["runtimeStatus"] == "Failed"
    error = status["customStatus"]["error"]
    assert error["code"] == "segment_timeout" and "taken by no worker" in error["message"], error
    assert time.monotonic() - started < 40  # 4 s of queue limit, checked at 1 s deadlines; the rest is start-up
    segments = 2  # a 22 s clip in ~11 s windows
    assert queued.approximate_message_count == segments  # dispatched once: four deadlines re-sent nothing
