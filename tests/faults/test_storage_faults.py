"""Storage faults through the real one-machine stack: Azurite restarted, busy (503), silent (timeouts), and a full
disk under the host's durable state.

The devhost, the app, the workers and the upload client (whose SAS URLs the app builds from the proxy's address)
reach Azurite through a fault-injecting proxy (tests/faults/storage_proxy.py). Workers are the model-free stand-in
(tests/support/noop_worker.py) with ``--words``: each segment's result is the one word ``w{index}``, so a
transcript that reads ``w0 w1 … wN-1`` shows every segment merged exactly once, in order (a lost or doubled segment
changes the text). Each job is a silent WAV cut into 1 s windows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from client.api import TranscriptionApi
from client.block_upload import UploadOptions
from client.uploads import upload_file
from devhost.stack import LocalStack
from tests.faults.storage_proxy import StorageProxy
from tests.support.silence import silent_wav
from tests.support.speed import scaled
from tests.support.wer import words

pytestmark = pytest.mark.slow  # each case runs a job through a fault of several seconds

SEGMENTS = 12
ENV = {
    "TRANSCRIBE_SEGMENT_WINDOW_S": "1",
    "TRANSCRIBE_SEGMENT_MIN_WINDOW_S": "1",
    "TRANSCRIBE_SEGMENT_OVERLAP_S": "0.1",
    "TRANSCRIBE_EXPECTED_WORKERS": "1",
    "TRANSCRIBE_SEGMENT_BATCH_SIZE": "4",
    "TRANSCRIBE_SEGMENT_TIMEOUT_S": "10",  # a segment whose report a fault lost is redispatched after this
}
# A segment whose worker met the fault mid-way (its taken mark may be lost too) comes back when its message's
# visibility timeout ends, as on Azure: 10 s here, scaled down like the no-progress deadline (the worker's default
# is 300 s, longer than a test waits; a batch re-sends only segments a worker took and went silent on).
WORKER = {
    "workers": 1,
    "worker_module": "tests.support.noop_worker",
    "worker_args": ["--words", "--visibility-timeout", "10"],
}
EXPECTED_WORDS = [f"w{i}" for i in range(SEGMENTS)]
# Longer than the ~8 s of 503s one storage call rides out (shared/azure/storage.py RETRY), so the API must answer 503.
BUSY_S = 12


@dataclass
class Faulty:
    stack: LocalStack
    proxy: StorageProxy
    small_disk: str | None  # why the host's state folder is not on a small disk of its own, or None when it is

    def http(self, timeout_s: float = 120) -> httpx.Client:
        headers = {"x-functions-key": self.stack.function_key}
        return httpx.Client(base_url=self.stack.base_url, headers=headers, timeout=timeout_s)

    def api(self) -> TranscriptionApi:
        return TranscriptionApi(self.stack.base_url, self.stack.function_key, timeout_s=120)

    @property
    def state_dir(self) -> Path:
        return self.stack.workdir / "state"  # DEVHOST_STATE_DIR (LocalStack.host_env)


@pytest.fixture(scope="module")
def faulty() -> Iterator[Faulty]:
    """One stack for every case: storage behind the proxy, and the host's state folder on a 32 MiB tmpfs of its own
    where this machine lets us mount one (root), so that it can be filled without touching the real disk."""
    stack = LocalStack(env=ENV, **WORKER)  # type: ignore[arg-type]
    proxy = StorageProxy(stack.azurite).start()
    stack.storage_connection_string = proxy.connection_string
    state = stack.workdir / "state"
    state.mkdir(parents=True, exist_ok=True)
    small_disk = _mount_small_disk(state)
    try:
        with stack:
            yield Faulty(stack, proxy, small_disk)
    finally:
        proxy.stop()
        if small_disk is None:
            subprocess.run(["umount", str(state)], check=False)
            shutil.rmtree(stack.workdir, ignore_errors=True)


def _mount_small_disk(folder: Path) -> str | None:
    """Mount a 32 MiB tmpfs on ``folder``; why not, when that is not allowed here."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return "mounting a tmpfs needs root"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(folder)], capture_output=True, text=True, check=False
    )
    return None if done.returncode == 0 else f"mount -t tmpfs failed: {done.stderr.strip()}"


def _upload(faulty: Faulty, path: Path, options: UploadOptions | None = None) -> str:
    api = faulty.api()
    try:
        return upload_file(api, path, options=options).job_id
    finally:
        api.close()


def _job(http: httpx.Client, job_id: str) -> dict[str, Any]:
    body = http.get(f"/api/jobs/{job_id}").json()
    return dict(body.get("job") or body)  # a failed job comes back inside its problem+json


def _wait_progress(faulty: Faulty, job_id: str, done: int, timeout_s: float = 60) -> None:
    timeout_s = scaled(timeout_s)  # tests/support/speed.py: this machine's pace
    deadline = time.monotonic() + timeout_s
    with faulty.http() as http:
        while time.monotonic() < deadline:
            job = _job(http, job_id)
            assert job.get("status") not in ("completed", "failed", "canceled"), job
            if (job.get("progress") or {}).get("segments_done", 0) >= done:
                return
            time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {done} segments")


def _wait_final(faulty: Faulty, job_id: str, timeout_s: float) -> dict[str, Any]:
    timeout_s = scaled(timeout_s)  # tests/support/speed.py: this machine's pace
    deadline = time.monotonic() + timeout_s
    with faulty.http() as http:
        while time.monotonic() < deadline:
            job = _job(http, job_id)
            if job.get("status") in ("completed", "failed", "canceled"):
                return job
            time.sleep(0.3)
    raise AssertionError(
        f"job {job_id} did not finish in {timeout_s:.0f} s; the host's last warnings:\n{_warnings(faulty)}"
    )


def _warnings(faulty: Faulty, lines: int = 30) -> str:
    """The host's last warnings and errors (its log is mostly one line per HTTP request)."""
    log = faulty.stack.devhost.log_tail(100_000) if faulty.stack.devhost else ""
    return "\n".join([line for line in log.splitlines() if '"level": "INFO"' not in line][-lines:])


def _transcript_words(faulty: Faulty, job_id: str) -> list[str]:
    api = faulty.api()
    try:
        return words(api.transcript(job_id, "txt").decode())
    finally:
        api.close()


@dataclass
class Answer:
    call: str
    status: int
    code: str | None
    retry_after: str | None
    seconds: float


def _probe_api(faulty: Faulty, job_id: str) -> list[Answer]:
    """One of each storage-backed API call, timed; a transport error (no answer at all) fails the test."""
    calls = [
        ("GET", f"/api/jobs/{job_id}", None),
        ("GET", f"/api/uploads/{job_id}", None),
        ("GET", "/api/jobs", None),
        ("POST", "/api/uploads", {"filename": "probe.wav", "size_bytes": 1000}),
    ]
    answers = []
    with faulty.http() as http:
        for method, path, body in calls:
            started = time.monotonic()
            response = http.request(method, path, json=body)
            seconds = time.monotonic() - started
            is_problem = response.headers.get("content-type", "").startswith("application/problem+json")
            code = response.json().get("code") if is_problem else None
            answers.append(
                Answer(f"{method} {path}", response.status_code, code, response.headers.get("Retry-After"), seconds)
            )
    return answers


def _assert_clear(answers: list[Answer], bound_s: float) -> None:
    """Every answer is a success or a retryable 503 ``storage_unavailable`` with Retry-After, within ``bound_s``."""
    for a in answers:
        assert a.seconds < bound_s, a
        if a.status >= 500:
            assert (a.status, a.code) == (503, "storage_unavailable") and a.retry_after, a


def _run_job_through(faulty: Faulty, tmp_path: Path, name: str, fault: Any) -> tuple[str, Any]:
    """Upload a job, let it get going, run ``fault(job_id)`` mid-job; return the job id and what the fault gave."""
    job_id = _upload(faulty, silent_wav(tmp_path / name, SEGMENTS))
    _wait_progress(faulty, job_id, 2)
    return job_id, fault(job_id)


def test_busy_storage_for_seconds_mid_job(faulty: Faulty, tmp_path: Path) -> None:
    """Azurite answers 503 ServerBusy for 12 s mid-job: API calls meanwhile answer 503 storage_unavailable with
    Retry-After (never a 500 or a hang), an upload whose blocks meet the outage retries and finishes, and the job
    completes with every segment once."""
    second = silent_wav(tmp_path / "during.wav", SEGMENTS)
    uploaded: dict[str, str] = {}
    outage = threading.Event()

    def upload_into_the_outage() -> None:
        def begin(_: dict[str, Any]) -> None:  # the session is open: its blocks go straight into the outage
            faulty.proxy.fault_for("busy", BUSY_S)
            outage.set()

        api = faulty.api()
        try:
            uploaded["job"] = upload_file(api, second, on_session=begin).job_id
        finally:
            api.close()

    def fault(job_id: str) -> list[Answer]:
        uploader = threading.Thread(target=upload_into_the_outage)
        uploader.start()
        assert outage.wait(30)
        answers = _probe_api(faulty, job_id)
        uploader.join(timeout=120)
        return answers

    job_id, answers = _run_job_through(faulty, tmp_path, "busy.wav", fault)
    print("\n".join(map(str, answers)))
    # ~8 s of 503s ridden by the storage SDK per call (shared/azure/storage.py), then a 503 problem; 30 s leaves room
    # for a slow machine and stays under the client's own 30 s timeout.
    _assert_clear(answers, bound_s=30)
    assert answers[0].status == 503, "the outage never reached the API"
    assert "job" in uploaded, "the upload started during the outage did not finish"
    assert any("comp=block" in line for line in faulty.proxy.answered_busy), "no block PUT met the outage"
    for jid in (job_id, uploaded["job"]):
        job = _wait_final(faulty, jid, 120)
        assert job["status"] == "completed", job
        assert _transcript_words(faulty, jid) == EXPECTED_WORDS


def test_silent_storage_for_seconds_mid_job(faulty: Faulty, tmp_path: Path) -> None:
    """Azurite stops answering for 15 s mid-job: calls time out within bounds, the job completes."""

    def fault(job_id: str) -> list[Answer]:
        restore = faulty.proxy.fault_for("hang", 15)
        answers = _probe_api(faulty, job_id)
        restore.join()
        return answers

    job_id, answers = _run_job_through(faulty, tmp_path, "silent.wav", fault)
    print("\n".join(map(str, answers)))
    # Storage silent for 15 s: a call rides it (a 10 s read timeout, a 3 s back-off, a retry cut when the proxy drops
    # it at 15 s, a 5 s back-off): ~20 s measured here. The SDK's own waits (300 s reads, 15-21 s back-offs) take
    # 30 s or more (30.6 s measured), hence 27 s.
    _assert_clear(answers, bound_s=27)
    job = _wait_final(faulty, job_id, 120)
    assert job["status"] == "completed", job
    assert _transcript_words(faulty, job_id) == EXPECTED_WORDS


def test_azurite_restart_mid_job(faulty: Faulty, tmp_path: Path) -> None:
    """Azurite stopped and started again on the same data folder mid-job: the job completes, transcript whole."""

    def fault(job_id: str) -> None:
        faulty.stack.azurite.process.stop(grace_s=5)
        time.sleep(2)
        faulty.stack.azurite.start()

    job_id, _ = _run_job_through(faulty, tmp_path, "restart.wav", fault)
    job = _wait_final(faulty, job_id, 120)
    assert job["status"] == "completed", job
    assert _transcript_words(faulty, job_id) == EXPECTED_WORDS


def _fill(folder: Path) -> Path:
    """Write a ballast file until the disk under ``folder`` is full (ENOSPC); it is returned for deletion."""
    ballast = folder / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 1):  # down to the last byte
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return ballast


def _empty_wal(database: Path) -> None:
    """Checkpoint the host's store and truncate its write-ahead log to nothing, so that its next write needs new
    disk space. A WAL grown by earlier jobs is reused in place after a checkpoint: the next job's pages then fit in
    it and never meet the full disk (seen: the job started on a "full" disk ran through, and the host never logged
    SQLITE_FULL, once the jobs before it had grown the log enough)."""
    with contextlib.closing(sqlite3.connect(database, timeout=10)) as db:
        for _ in range(100):  # a reader of the host's holds the log now and then: try again
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(0.05)
    raise AssertionError("the host's store never let its write-ahead log be truncated")


def _wait_for_host_to_say(faulty: Faulty, text: str, timeout_s: float) -> None:
    assert faulty.stack.devhost is not None
    timeout_s = scaled(timeout_s)  # tests/support/speed.py: this machine's pace
    deadline = time.monotonic() + timeout_s
    while text not in faulty.stack.devhost.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"the host never logged {text!r}"
        time.sleep(0.2)


def test_disk_full_under_the_host_state(faulty: Faulty, tmp_path: Path) -> None:
    """The host's state folder (the durable engine's SQLite store) fills up mid-job until the host has said so in its
    log (a job uploaded meanwhile cannot start its orchestration) and 3 s more: the host stays up, API calls answer
    clearly, and once space returns both jobs complete and the store is whole."""
    if faulty.small_disk is not None:
        pytest.skip(faulty.small_disk)
    devhost = faulty.stack.devhost
    assert devhost is not None and devhost.pid is not None
    pid = devhost.pid
    second = silent_wav(tmp_path / "while-full.wav", SEGMENTS)

    def fault(job_id: str) -> tuple[list[Answer], str]:
        _empty_wal(faulty.state_dir / "durable.sqlite3")
        ballast = _fill(faulty.state_dir)
        try:
            answers = _probe_api(faulty, job_id)
            during = _upload(faulty, second)  # its orchestration cannot be created while the disk is full
            _wait_for_host_to_say(faulty, "database or disk is full", 60)  # its ingest met the full disk
            time.sleep(3)
        finally:
            ballast.unlink()
        return answers, during

    job_id, (answers, during) = _run_job_through(faulty, tmp_path, "full.wav", fault)
    print("\n".join(map(str, answers)))
    _assert_clear(answers, bound_s=30)
    for jid in (job_id, during):
        job = _wait_final(faulty, jid, 120)
        assert job["status"] == "completed", job
        assert _transcript_words(faulty, jid) == EXPECTED_WORDS
    assert devhost.pid == pid and devhost.proc is not None and devhost.proc.poll() is None, "the host restarted"
    with contextlib.closing(sqlite3.connect(faulty.state_dir / "durable.sqlite3")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
