"""One customer's upload, as ``client/uploads.py`` does it, on asyncio so that hundreds run at once on 2 cores.

Create the session (with an ``Idempotency-Key``), put the blocks through the session's SAS URL (Content-MD5 on
each, streamed from the file in 256 KiB slices: memory stays flat whatever the file), commit the block list, and
ask the API what it holds. Nothing is retried: the load counts every failure instead of hiding it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

import httpx

from bench.load.timed import Recorder, timed
from shared.blocks import BlockPlan, block_id

SLICE = 256 * 1024


class LoadFailure(Exception):
    """A step of one upload or job went wrong (already recorded as an error); the rest of the load goes on."""


async def create_session(
    recorder: Recorder, api: httpx.AsyncClient, path: Path, block_size: int | None, twice: bool, created: list[str]
) -> dict[str, Any]:
    """``POST /api/uploads``; with ``twice``, the same request is sent twice at once with one Idempotency-Key (a
    client retrying a request whose answer it lost) and both answers must name the same job. Every job id the
    service hands out is added to ``created``, so that the audit looks for jobs whose upload failed later too."""
    body: dict[str, Any] = {"filename": path.name, "size_bytes": path.stat().st_size, "content_type": "audio/wav"}
    if block_size:
        body["block_size_bytes"] = block_size
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    sends = [timed(recorder, "create_upload", api, "POST", "/api/uploads", json=body, headers=headers)]
    if twice:
        sends.append(timed(recorder, "create_upload", api, "POST", "/api/uploads", json=body, headers=headers))
    answers = await asyncio.gather(*sends)
    sessions = [a.json() for a in answers if a is not None and a.status_code == 201]
    created += sorted({s["job_id"] for s in sessions})
    if len(sessions) != len(answers):
        raise LoadFailure(f"create upload for {path.name}")
    replayed = sum(a is not None and a.headers.get("Idempotent-Replayed") == "true" for a in answers)
    if len({s["job_id"] for s in sessions}) != 1 or replayed != len(answers) - 1:
        detail = f"one Idempotency-Key: {len({s['job_id'] for s in sessions})} job(s), {replayed} replayed"
        recorder.errors.append({"phase": recorder.phase, "op": "create_upload", "status": 201, "detail": detail})
        raise LoadFailure(f"idempotent create for {path.name}: {detail}")
    return sessions[0]


async def upload_blocks(recorder: Recorder, storage: httpx.AsyncClient, session: dict[str, Any], path: Path) -> None:
    """Every block in order, then the commit, through the session's SAS URL."""
    plan = BlockPlan(session["size_bytes"], session["upload"]["block_size"])
    url = session["upload"]["url"]
    fd = os.open(path, os.O_RDONLY)
    try:
        for index in range(plan.block_count):
            offset, length = plan.offset(index), plan.length(index)
            md5 = await asyncio.to_thread(_md5, fd, offset, length)
            headers = {"x-ms-version": "2025-01-05", "Content-Length": str(length), "Content-MD5": md5}
            block_url = f"{url}&comp=block&blockid={quote(block_id(index), safe='')}"
            content = _slices(fd, offset, length)
            response = await timed(recorder, "put_block", storage, "PUT", block_url, content=content, headers=headers)
            if response is None or response.status_code != 201:
                raise LoadFailure(f"block {index} of {session['job_id']}")
    finally:
        os.close(fd)
    blocks = "".join(f"<Latest>{escape(block_id(i))}</Latest>" for i in range(plan.block_count))
    xml = f'<?xml version="1.0" encoding="utf-8"?><BlockList>{blocks}</BlockList>'.encode()
    headers = {
        "x-ms-version": "2025-01-05",
        "x-ms-blob-content-type": session["upload"]["commit_content_type"],
        "Content-Type": "application/xml",
    }
    response = await timed(recorder, "commit", storage, "PUT", f"{url}&comp=blocklist", content=xml, headers=headers)
    if response is None or response.status_code != 201:
        raise LoadFailure(f"commit of {session['job_id']}")


async def check_committed(recorder: Recorder, api: httpx.AsyncClient, job_id: str, size: int) -> None:
    """``GET /api/uploads/{id}``: the service must see every byte committed."""
    response = await timed(recorder, "get_upload", api, "GET", f"/api/uploads/{job_id}")
    if response is None or response.status_code != 200:
        raise LoadFailure(f"upload status of {job_id}")
    state = response.json()
    if state["committed_bytes"] != size or state["upload_state"] != "committed":
        detail = f"{job_id}: {state['upload_state']}, {state['committed_bytes']} of {size} bytes committed"
        recorder.errors.append({"op": "get_upload", "status": 200, "detail": detail})
        raise LoadFailure(detail)


async def upload(
    recorder: Recorder,
    api: httpx.AsyncClient,
    storage: httpx.AsyncClient,
    path: Path,
    created: list[str],
    *,
    block_size: int | None = None,
    twice: bool = False,
) -> str:
    """A whole upload; returns the job id."""
    session = await create_session(recorder, api, path, block_size, twice, created)
    await upload_blocks(recorder, storage, session, path)
    await check_committed(recorder, api, session["job_id"], session["size_bytes"])
    return str(session["job_id"])


async def _slices(fd: int, offset: int, length: int) -> AsyncIterator[bytes]:
    end = offset + length
    while offset < end:
        chunk = await asyncio.to_thread(os.pread, fd, min(SLICE, end - offset), offset)
        if not chunk:
            raise LoadFailure("the file got shorter while it was being uploaded")
        offset += len(chunk)
        yield chunk


def _md5(fd: int, offset: int, length: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    end = offset + length
    while offset < end:
        chunk = os.pread(fd, min(SLICE, end - offset), offset)
        digest.update(chunk)
        offset += len(chunk)
    return base64.b64encode(digest.digest()).decode("ascii")
