"""Upload one local file through the API: new session or resume, parallel blocks, commit, verify.

The session is told which file it is for (:mod:`client.fingerprint`): a resume with another file, or with this
one rewritten since, is refused by the service before a block is sent, and the file is fingerprinted again just
before the commit, so a rewrite during the upload is reported instead of committed as a mix of two versions.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from client.api import ApiError, TranscriptionApi
from client.block_upload import (
    CHANGED_WHILE_SENDING,
    START_AFRESH,
    BlockUploader,
    FileChangedError,
    SasSource,
    SasTarget,
    UploadError,
    UploadOptions,
)
from client.fingerprint import file_fingerprint
from client.local_names import api_filename, readable
from client.progress import ByteProgress
from shared.blocks import BlockPlan, block_tag, from_ranges

FILE_CHANGED = "file_changed"


@dataclass(frozen=True)
class UploadResult:
    job_id: str
    size_bytes: int
    sent_bytes: int
    resumed_bytes: int
    seconds: float
    status_url: str


def open_session(
    api: TranscriptionApi,
    path: Path,
    resume_job_id: str | None,
    language: str | None,
    block_size: int | None,
    fingerprint: str | None = None,
    audio_stream: int | None = None,
    language_candidates: list[str] | None = None,
    task: str = "transcribe",
) -> dict[str, Any]:
    """A new session for ``path`` (recording its fingerprint), or the one being resumed, checked to be its own."""
    size = path.stat().st_size
    if resume_job_id is None:
        body: dict[str, Any] = {"filename": api_filename(path), "size_bytes": size}
        guessed, _ = mimetypes.guess_type(body["filename"])
        if guessed:
            body["content_type"] = guessed
        if language:
            body["language"] = language
        if language_candidates:
            body["language_candidates"] = language_candidates
        if task != "transcribe":  # the default left out: the body stays what older services accept
            body["task"] = task
        if block_size:
            body["block_size_bytes"] = block_size
        if fingerprint:
            body["file_fingerprint"] = fingerprint
        if audio_stream is not None:
            body["audio_stream"] = audio_stream
        return api.create_upload(body)
    session = _resumed_session(api, path, resume_job_id, fingerprint)
    if session["size_bytes"] != size:
        raise FileChangedError(
            f"{readable(str(path))} is {size} bytes but job {resume_job_id} expects {session['size_bytes']}: "
            "not the same file"
        )
    if session["upload_state"] == "expired":
        raise UploadError(f"the upload session of job {resume_job_id} has expired; start a new upload")
    return session


def _resumed_session(api: TranscriptionApi, path: Path, job_id: str, fingerprint: str | None) -> dict[str, Any]:
    try:
        return api.get_upload(job_id, fingerprint)
    except ApiError as exc:
        if exc.code != FILE_CHANGED:
            raise
        raise FileChangedError(
            f"the file changed: {readable(str(path))} is not the file job {job_id} was started with (another "
            "file, or this one rewritten since); nothing was sent. Start a new upload, without --resume"
        ) from exc


def session_plan(session: dict[str, Any], fingerprint: str) -> BlockPlan:
    """The plan this client sends by: ids tagged from its own file's fingerprint when the session has one (the
    service checked it is the same), so a block of any other file can never be taken for one of this file's."""
    tag = block_tag(fingerprint) if session.get("file_fingerprint") else None
    return BlockPlan(session["size_bytes"], session["upload"]["block_size"], tag)


@dataclass(frozen=True)
class LocalVersion:
    """What says the local file is still the version an upload started from: its fingerprint, and its inode and
    status-change time. Any write moves the latter, even one that puts the modified time back (``utime`` moves it
    too), and so does a file saved over by rename; a rename or ``chmod`` moves it as well, which is why it is only
    compared within one run (a resume, perhaps from another machine, compares the fingerprint alone)."""

    fingerprint: str
    inode: int
    ctime_ns: int

    @classmethod
    def of(cls, path: Path) -> LocalVersion:
        info = path.stat()
        return cls(file_fingerprint(path), info.st_ino, info.st_ctime_ns)


def ensure_unchanged(path: Path, started: LocalVersion) -> None:
    """Before the commit: every block was read from the version seen at the start, or nothing commits."""
    if LocalVersion.of(path) != started:
        raise FileChangedError(
            f"{CHANGED_WHILE_SENDING} ({readable(str(path))} was modified after the upload started, so its blocks "
            f"may mix two versions); {START_AFRESH}"
        )


def upload_file(
    api: TranscriptionApi,
    path: Path,
    *,
    resume_job_id: str | None = None,
    language: str | None = None,
    language_candidates: list[str] | None = None,
    task: str = "transcribe",
    block_size: int | None = None,
    audio_stream: int | None = None,
    options: UploadOptions | None = None,
    show_progress: bool = False,
    on_session: Callable[[dict[str, Any]], None] = lambda s: None,
    transport: httpx.BaseTransport | None = None,
) -> UploadResult:
    started = time.monotonic()
    version = LocalVersion.of(path)
    fingerprint = version.fingerprint
    session = open_session(
        api, path, resume_job_id, language, block_size, fingerprint, audio_stream, language_candidates, task
    )
    job_id = session["job_id"]
    on_session(session)
    if session["upload_state"] == "committed":
        return UploadResult(job_id, session["size_bytes"], 0, session["size_bytes"], 0.0, session["status_url"])

    plan = session_plan(session, fingerprint)
    received = from_ranges(session["received"]["ranges"])
    missing = [i for i in range(plan.block_count) if i not in received]
    resumed = sum(plan.length(i) for i in received)
    sas = SasSource(SasTarget.from_session(session), lambda: SasTarget.from_session(api.get_upload(job_id)))
    with ByteProgress(plan.size_bytes, resumed, api_filename(path), show_progress) as progress:
        uploader = BlockUploader(path, plan, sas, options or UploadOptions(), progress.advance, transport)
        try:
            uploader.put_blocks(missing)
            ensure_unchanged(path, version)
            uploader.commit(session["upload"]["commit_content_type"])
        finally:
            uploader.close()
    final = api.get_upload(job_id)
    if final["committed_bytes"] != plan.size_bytes:
        raise UploadError(f"storage holds {final['committed_bytes']} bytes of {plan.size_bytes} after commit")
    sent = plan.size_bytes - resumed
    return UploadResult(job_id, plan.size_bytes, sent, resumed, time.monotonic() - started, final["status_url"])
