"""The customer client against the real stack: byte-identical uploads, interruptions, resume, retries."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from client.api import ApiError, TranscriptionApi
from client.block_upload import UploadError, UploadOptions
from client.fingerprint import SAMPLE_BYTES, sample_offsets
from client.uploads import upload_file
from devhost.stack import LocalStack
from shared.azure.sas import BlobSigner, upload_permission
from shared.azure.storage import DEV_ACCOUNT_KEY
from shared.blocks import MIB
from tests.conftest import ROOT, make_file


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_blob(service: BlobServiceClient, job_id: str, name: str) -> str:
    digest = hashlib.sha256()
    for chunk in service.get_blob_client("uploads", f"{job_id}/{name}").download_blob().chunks():
        digest.update(chunk)
    return digest.hexdigest()


def _client(stack: LocalStack, *args: str, **popen: object) -> subprocess.Popen[str]:
    env = dict(os.environ, TRANSCRIBE_API_URL=stack.base_url, TRANSCRIBE_API_KEY=stack.function_key)
    return subprocess.Popen(
        [sys.executable, "-m", "client", *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )  # type: ignore[call-overload]


@pytest.fixture
def service_api(stack: LocalStack) -> TranscriptionApi:
    api = TranscriptionApi(stack.base_url, stack.function_key)
    yield api  # type: ignore[misc]
    api.close()


def test_multi_block_upload_arrives_byte_identical(
    stack: LocalStack, blob_service: BlobServiceClient, tmp_path: Path
) -> None:
    audio = make_file(tmp_path / "meeting.wav", 13 * MIB + 12345)
    proc = _client(stack, "upload", str(audio), "--block-size", "1M", "--concurrency", "4", "--json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert (result["size_bytes"], result["sent_bytes"], result["resumed_bytes"]) == (audio.stat().st_size,) * 2 + (0,)
    assert _sha256_blob(blob_service, result["job_id"], "meeting.wav") == _sha256_file(audio)
    props = blob_service.get_blob_client("uploads", f"{result['job_id']}/meeting.wav").get_blob_properties()
    assert props.content_settings.content_type == "audio/wav"


def test_interrupted_upload_resumes_and_sends_only_what_is_missing(
    stack: LocalStack, blob_service: BlobServiceClient, service_api: TranscriptionApi, tmp_path: Path
) -> None:
    audio = make_file(tmp_path / "long talk.flac", 24 * MIB + 7, seed=2)
    proc = _client(stack, "upload", str(audio), "--block-size", "1M", "--concurrency", "2", "--limit-rate", "3M")
    job_id = _wait_for_job_line(proc)
    deadline = time.monotonic() + 60
    while service_api.get_upload(job_id)["received"]["blocks"] < 6:
        assert time.monotonic() < deadline, "client made no progress"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)  # a crash, not a polite stop
    proc.wait()
    staged = service_api.get_upload(job_id)
    assert staged["upload_state"] == "open" and 6 <= staged["received"]["blocks"] < 25

    resumed = _client(stack, "upload", str(audio), "--resume", job_id, "--json")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    result = json.loads(out)
    assert result["job_id"] == job_id
    assert result["resumed_bytes"] >= staged["received"]["bytes"]
    assert result["sent_bytes"] + result["resumed_bytes"] == audio.stat().st_size
    assert _sha256_blob(blob_service, job_id, "long_talk.flac") == _sha256_file(audio)


def _wait_for_job_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith("Job "), line
    return line.split()[1].rstrip(":")


def test_resume_refuses_a_different_file(stack: LocalStack, service_api: TranscriptionApi, tmp_path: Path) -> None:
    audio = make_file(tmp_path / "a.wav", 3 * MIB)
    session = service_api.create_upload({"filename": "a.wav", "size_bytes": 5 * MIB})
    with pytest.raises(UploadError, match="not the same file"):
        upload_file(service_api, audio, resume_job_id=session["job_id"])


def test_resume_of_a_committed_upload_sends_nothing(
    stack: LocalStack, service_api: TranscriptionApi, tmp_path: Path
) -> None:
    audio = make_file(tmp_path / "done.wav", 2 * MIB)
    first = upload_file(service_api, audio)
    again = upload_file(service_api, audio, resume_job_id=first.job_id)
    assert (again.job_id, again.sent_bytes) == (first.job_id, 0)


def test_resume_of_a_committed_upload_with_another_file_says_so(service_api: TranscriptionApi, tmp_path: Path) -> None:
    """The job already holds A: "resuming" it with B used to answer "uploaded, 0 bytes sent", as if B were in."""
    first = upload_file(service_api, make_file(tmp_path / "a.wav", 2 * MIB, seed=1))
    with pytest.raises(UploadError, match="the file changed"):
        upload_file(service_api, make_file(tmp_path / "b.wav", 2 * MIB, seed=2), resume_job_id=first.job_id)


def test_unknown_job_resume_is_a_clear_error(service_api: TranscriptionApi, tmp_path: Path) -> None:
    audio = make_file(tmp_path / "x.wav", 1024)
    with pytest.raises(ApiError) as caught:
        upload_file(service_api, audio, resume_job_id="01a22308-92f9-719f-87ae-a00945090e9e")
    assert (caught.value.status, caught.value.code) == (404, "job_not_found")


class FlakyTransport(httpx.BaseTransport):
    """Real HTTP to Azurite, except that every block's first attempt dies with a connection error or a 503."""

    def __init__(self) -> None:
        self._real = httpx.HTTPTransport()
        self.seen: dict[str, int] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = request.url.params.get("blockid") or request.url.params.get("comp", "")
        self.seen[key] = self.seen.get(key, 0) + 1
        if self.seen[key] == 1:
            if len(self.seen) % 2:
                raise httpx.ConnectError("injected", request=request)
            return httpx.Response(503, headers={"x-ms-error-code": "ServerBusy"})
        return self._real.handle_request(request)


def test_failed_blocks_and_commit_are_retried(
    blob_service: BlobServiceClient, service_api: TranscriptionApi, tmp_path: Path
) -> None:
    audio = make_file(tmp_path / "flaky.mp3", 5 * MIB + 3, seed=3)
    flaky = FlakyTransport()
    result = upload_file(service_api, audio, block_size=MIB, transport=flaky, options=UploadOptions(concurrency=3))
    assert len(flaky.seen) == 7  # 6 blocks and the commit, each failed once then went through
    assert all(count == 2 for count in flaky.seen.values())
    assert _sha256_blob(blob_service, result.job_id, "flaky.mp3") == _sha256_file(audio)


def test_refused_block_stops_the_upload_with_a_clear_error(service_api: TranscriptionApi, tmp_path: Path) -> None:
    audio = make_file(tmp_path / "refused.wav", 2 * MIB)

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, headers={"x-ms-error-code": "InvalidBlockId"})

    with pytest.raises(UploadError, match="refused: HTTP 400 InvalidBlockId"):
        upload_file(service_api, audio, block_size=MIB, transport=httpx.MockTransport(refuse))


def test_expired_sas_is_renewed_through_the_api(
    stack: LocalStack,
    blob_service: BlobServiceClient,
    service_api: TranscriptionApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first URL handed out is already dead (as after a long pause); storage says 403, the client renews."""
    import client.block_upload as block_upload

    audio = make_file(tmp_path / "renew.wav", 2 * MIB, seed=4)
    signer = BlobSigner(blob_service, DEV_ACCOUNT_KEY)
    original = block_upload.SasTarget.from_session
    calls = {"n": 0}

    def first_one_expired(session: dict) -> block_upload.SasTarget:
        target = original(session)
        calls["n"] += 1
        if calls["n"] == 1:
            past = datetime.now(UTC) - timedelta(minutes=1)
            blob = target.url.split("/uploads/", 1)[1].split("?", 1)[0]
            dead = signer.blob_url("uploads", blob, upload_permission(), past)
            return block_upload.SasTarget(dead, datetime.now(UTC) + timedelta(hours=1))
        return target

    monkeypatch.setattr(block_upload.SasTarget, "from_session", staticmethod(first_one_expired))
    result = upload_file(service_api, audio, block_size=MIB)
    assert calls["n"] >= 2
    assert _sha256_blob(blob_service, result.job_id, "renew.wav") == _sha256_file(audio)


# --- the session knows which file it is for (issue 22 item 2) ---------------------------------------------------------


class StopAfterBlocks(httpx.BaseTransport):
    """Real HTTP to Azurite for the first ``n`` blocks; then storage refuses every block, as a link that died would
    end the run. With one connection, exactly ``n`` blocks are staged: a first attempt cut short."""

    def __init__(self, n: int) -> None:
        self._real = httpx.HTTPTransport()
        self._left = n

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.params.get("comp") == "block":
            if self._left == 0:
                return httpx.Response(400, headers={"x-ms-error-code": "InjectedStop"})
            self._left -= 1
        return self._real.handle_request(request)


def _first_attempt(api: TranscriptionApi, path: Path, blocks: int) -> str:
    """Start uploading ``path`` in 1 MiB blocks and stop after ``blocks`` of them; returns the job id."""
    seen: dict[str, str] = {}
    with pytest.raises(UploadError, match="InjectedStop"):
        upload_file(
            api,
            path,
            block_size=MIB,
            options=UploadOptions(concurrency=1, max_attempts=1),
            on_session=lambda s: seen.update(job_id=s["job_id"]),
            transport=StopAfterBlocks(blocks),
        )
    return seen["job_id"]


def _rewrite_keeping_mtime(path: Path, seed: int) -> Path:
    """Another recording of the same length under the same name, its timestamp put back (as ``cp -p`` would)."""
    stat = path.stat()
    make_file(path, stat.st_size, seed=seed)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return path


@pytest.mark.parametrize("how", ["another_file", "rewritten", "rewritten_same_mtime"])
def test_a_resume_with_another_file_of_the_same_size_is_refused(
    blob_service: BlobServiceClient, service_api: TranscriptionApi, tmp_path: Path, how: str
) -> None:
    """The probe's splice: two blocks of A staged, then ``--resume`` with B (or with A rewritten). It must be refused
    as "the file changed" before a byte of B is sent, and A itself must still resume to a byte-identical blob."""
    size = 4 * MIB + 5
    first = make_file(tmp_path / "a.wav", size, seed=5)
    original = _sha256_file(first)
    job_id = _first_attempt(service_api, first, blocks=2)
    assert service_api.get_upload(job_id)["received"]["blocks"] == 2
    if how == "another_file":
        second = make_file(tmp_path / "b.wav", size, seed=6)
    else:
        backup = shutil.copy2(first, tmp_path / "a.keep")  # with its modified time
        second = _rewrite_keeping_mtime(first, 6) if how == "rewritten_same_mtime" else make_file(first, size, seed=6)
    with pytest.raises(UploadError, match="the file changed"):
        upload_file(service_api, second, resume_job_id=job_id, block_size=MIB)
    after = service_api.get_upload(job_id)
    assert (after["upload_state"], after["received"]["blocks"], after["committed_bytes"]) == ("open", 2, 0)

    if how != "another_file":  # the first version is back (restored with its own timestamp): it resumes
        os.replace(backup, first)
    result = upload_file(service_api, first, resume_job_id=job_id)
    assert (result.job_id, result.resumed_bytes) == (job_id, 2 * MIB)
    assert _sha256_blob(blob_service, job_id, "a.wav") == original


def _rewrite_all(path: Path) -> None:
    make_file(path, path.stat().st_size, seed=9)


def _unsampled(size: int, lo: int, hi: int) -> int:
    """An offset in ``[lo, hi)`` that no fingerprint slice covers: the middle of the first gap there."""
    ends = [(start, start + SAMPLE_BYTES) for start in sample_offsets(size)]
    gaps = [(a_end + b_start) // 2 for (_, a_end), (b_start, _) in itertools.pairwise(ends) if b_start > a_end]
    return next(g for g in gaps if lo <= g < hi)


def _patch_unsampled_keeping_mtime(path: Path) -> None:
    """The stealthiest rewrite: bytes changed in a block already sent and in one not yet sent, both outside every
    fingerprint slice, and the modified time put back."""
    stat, size = path.stat(), path.stat().st_size
    with path.open("r+b") as f:
        for at in (_unsampled(size, 0, MIB), _unsampled(size, 3 * MIB, 4 * MIB)):
            f.seek(at)
            f.write(b"\x55" * 64)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


class RewriteDuringUpload(httpx.BaseTransport):
    """Real HTTP to Azurite; once the first block is in, ``rewrite`` changes the file (same size) before the next
    block's bytes are read: that block, and every later one, comes from the second version."""

    def __init__(self, path: Path, rewrite: Callable[[Path], None]) -> None:
        self._real = httpx.HTTPTransport()
        self._path = path
        self._rewrite = rewrite
        self._blocks = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.params.get("comp") == "block":
            self._blocks += 1
            if self._blocks == 2:
                self._rewrite(self._path)
        return self._real.handle_request(request)


@pytest.mark.parametrize(
    ("checksum", "rewrite"),
    [(True, _rewrite_all), (False, _rewrite_all), (False, _patch_unsampled_keeping_mtime)],
    ids=["checksum", "no_checksum", "no_checksum_stealthy"],
)
def test_a_file_rewritten_during_the_upload_is_never_committed(
    service_api: TranscriptionApi, tmp_path: Path, checksum: bool, rewrite: Callable[[Path], None]
) -> None:
    """Without checksums the rewrite used to be reported as uploaded (a splice committed); with them, as a refused
    block to resume, and the resume spliced. Now: "the file changed", nothing committed, and no resume."""
    audio = make_file(tmp_path / "live.wav", 4 * MIB + 5, seed=7)
    seen: dict[str, str] = {}
    with pytest.raises(UploadError, match="the file changed while it was being uploaded") as caught:
        upload_file(
            service_api,
            audio,
            block_size=MIB,
            options=UploadOptions(concurrency=1, checksum=checksum),
            on_session=lambda s: seen.update(job_id=s["job_id"]),
            transport=RewriteDuringUpload(audio, rewrite),
        )
    assert "resume" not in str(caught.value).replace("without --resume", "")
    job_id = seen["job_id"]
    assert service_api.get_upload(job_id)["committed_bytes"] == 0
    if rewrite is _rewrite_all:  # the stealthy patch keeps the fingerprint: its resume is the next test's case
        with pytest.raises(UploadError, match="the file changed"):
            upload_file(service_api, audio, resume_job_id=job_id)
    assert service_api.get_upload(job_id)["committed_bytes"] == 0


def test_the_command_line_says_the_file_changed_and_gives_no_resume_hint(stack: LocalStack, tmp_path: Path) -> None:
    first, second = make_file(tmp_path / "a.wav", 3 * MIB, seed=1), make_file(tmp_path / "b.wav", 3 * MIB, seed=2)
    api = TranscriptionApi(stack.base_url, stack.function_key)
    try:
        job_id = _first_attempt(api, first, blocks=1)
    finally:
        api.close()
    proc = _client(stack, "upload", str(second), "--resume", job_id, "--no-progress")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "the file changed" in err and "Traceback" not in err
    assert "resume with --resume" not in err


def test_a_file_name_that_is_not_utf8_uploads(stack: LocalStack, service_api: TranscriptionApi, tmp_path: Path) -> None:
    """``b"caf\\xe9 \\xff.wav"`` (Latin-1 bytes): the client used to die with a UnicodeEncodeError traceback. Each
    byte that is not UTF-8 is shown as U+FFFD; the upload goes through."""
    raw = os.fsencode(tmp_path) + b"/caf\xe9 \xff.wav"
    make_file(Path(os.fsdecode(raw)), 2 * MIB, seed=8)
    env = dict(os.environ, TRANSCRIBE_API_URL=stack.base_url, TRANSCRIBE_API_KEY=stack.function_key)
    done = subprocess.run(
        [sys.executable.encode(), b"-m", b"client", b"upload", raw, b"--json", b"--no-progress"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    job_id = json.loads(done.stdout)["job_id"]
    assert service_api.get_upload(job_id)["filename"] == "caf\ufffd \ufffd.wav"
