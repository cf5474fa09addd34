"""Upload one local file through the API: new session or resume, parallel blocks, commit, verify."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from client.api import TranscriptionApi
from client.block_upload import BlockUploader, SasSource, SasTarget, UploadError, UploadOptions
from client.progress import ByteProgress
from shared.blocks import BlockPlan, from_ranges


@dataclass(frozen=True)
class UploadResult:
    job_id: str
    size_bytes: int
    sent_bytes: int
    resumed_bytes: int
    seconds: float
    status_url: str


def open_session(
    api: TranscriptionApi, path: Path, resume_job_id: str | None, language: str | None, block_size: int | None
) -> dict[str, Any]:
    size = path.stat().st_size
    if resume_job_id is None:
        body: dict[str, Any] = {"filename": path.name, "size_bytes": size}
        guessed, _ = mimetypes.guess_type(path.name)
        if guessed:
            body["content_type"] = guessed
        if language:
            body["language"] = language
        if block_size:
            body["block_size_bytes"] = block_size
        return api.create_upload(body)
    session = api.get_upload(resume_job_id)
    if session["size_bytes"] != size:
        raise UploadError(
            f"{path} is {size} bytes but job {resume_job_id} expects {session['size_bytes']}: not the same file"
        )
    if session["upload_state"] == "expired":
        raise UploadError(f"the upload session of job {resume_job_id} has expired; start a new upload")
    return session


def upload_file(
    api: TranscriptionApi,
    path: Path,
    *,
    resume_job_id: str | None = None,
    language: str | None = None,
    block_size: int | None = None,
    options: UploadOptions | None = None,
    show_progress: bool = False,
    on_session: Callable[[dict[str, Any]], None] = lambda s: None,
    transport: httpx.BaseTransport | None = None,
) -> UploadResult:
    started = time.monotonic()
    session = open_session(api, path, resume_job_id, language, block_size)
    job_id = session["job_id"]
    on_session(session)
    if session["upload_state"] == "committed":
        return UploadResult(job_id, session["size_bytes"], 0, session["size_bytes"], 0.0, session["status_url"])

    plan = BlockPlan(session["size_bytes"], session["upload"]["block_size"])
    received = from_ranges(session["received"]["ranges"])
    missing = [i for i in range(plan.block_count) if i not in received]
    resumed = sum(plan.length(i) for i in received)
    sas = SasSource(SasTarget.from_session(session), lambda: SasTarget.from_session(api.get_upload(job_id)))
    with ByteProgress(plan.size_bytes, resumed, path.name, show_progress) as progress:
        uploader = BlockUploader(path, plan, sas, options or UploadOptions(), progress.advance, transport)
        try:
            uploader.put_blocks(missing)
            uploader.commit(session["upload"]["commit_content_type"])
        finally:
            uploader.close()
    final = api.get_upload(job_id)
    if final["committed_bytes"] != plan.size_bytes:
        raise UploadError(f"storage holds {final['committed_bytes']} bytes of {plan.size_bytes} after commit")
    sent = plan.size_bytes - resumed
    return UploadResult(job_id, plan.size_bytes, sent, resumed, time.monotonic() - started, final["status_url"])
