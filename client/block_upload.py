"""Put a local file into Blob Storage as blocks through a SAS URL: parallel, retried, resumable, flat in memory.

Each block is streamed from the file in 1 MiB slices (``os.pread`` on one shared descriptor), so memory is
``concurrency x 1 MiB`` whatever the block or file size. Block ids come from :mod:`shared.blocks`, which lets a
later run ask the API which blocks already arrived and send only the others. The SAS URL is short-lived: it is
refreshed from the API before it expires and whenever storage says it no longer authorises us.

Storage refusing a block's Content-MD5 (``Md5Mismatch``) means the bytes read while sending differ from those
hashed a moment before: the file is being rewritten. That is :class:`FileChangedError`, not a resumable failure,
since resuming would splice the two versions.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from xml.sax.saxutils import escape  # writes the Put Block List body, parses no XML  # nosec B406

import httpx

from client.throttle import RateLimiter
from shared.blocks import BlockPlan, block_id

CHANGED_WHILE_SENDING = "the file changed while it was being uploaded"
START_AFRESH = "nothing was committed; start a new upload of the file as it is now"

SLICE = 1024 * 1024
HASH_SLICE = 4 * SLICE
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_API_VERSION = "2025-01-05"


class UploadError(Exception):
    """A block or the commit failed for good; the upload can be resumed with the job id."""


class FileChangedError(UploadError):
    """The local file is not (or no longer) the one the session is for: resuming cannot help, only a new upload."""


@dataclass
class SasTarget:
    url: str
    expires_at: datetime

    @classmethod
    def from_session(cls, session: dict[str, Any]) -> SasTarget:
        upload = session.get("upload")
        if not upload:
            raise UploadError(f"upload session {session['job_id']} is {session.get('upload_state')}, not open")
        return cls(upload["url"], datetime.fromisoformat(upload["expires_at"]).astimezone(UTC))

    @property
    def api_version(self) -> str:
        return parse_qs(urlsplit(self.url).query).get("sv", [DEFAULT_API_VERSION])[0]


class SasSource:
    """The current SAS URL, refreshed through the API before expiry or after a 403."""

    def __init__(self, target: SasTarget, refresh: Callable[[], SasTarget], margin_s: float = 120) -> None:
        self._target = target
        self._refresh = refresh
        self._margin = timedelta(seconds=margin_s)
        self._lock = threading.Lock()

    def current(self) -> SasTarget:
        with self._lock:
            if datetime.now(UTC) + self._margin >= self._target.expires_at:
                self._target = self._refresh()
            return self._target

    def renew(self, stale: SasTarget) -> SasTarget:
        with self._lock:
            if self._target is stale:
                self._target = self._refresh()
            return self._target


@dataclass(frozen=True)
class UploadOptions:
    concurrency: int = 4
    max_attempts: int = 8
    checksum: bool = True
    bytes_per_second: float | None = None


class BlockUploader:
    def __init__(
        self,
        path: Path,
        plan: BlockPlan,
        sas: SasSource,
        options: UploadOptions,
        on_bytes: Callable[[int], None] = lambda n: None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._path = path
        self._plan = plan
        self._sas = sas
        self._options = options
        self._on_bytes = on_bytes
        self._limiter = RateLimiter(options.bytes_per_second)
        self._stop = threading.Event()
        limits = httpx.Limits(
            max_connections=options.concurrency + 2, max_keepalive_connections=options.concurrency + 2
        )
        self._http = httpx.Client(limits=limits, timeout=httpx.Timeout(60.0, connect=15.0), transport=transport)

    def close(self) -> None:
        self._http.close()

    def put_blocks(self, indices: Iterable[int]) -> None:
        fd = os.open(self._path, os.O_RDONLY)
        try:
            with ThreadPoolExecutor(self._options.concurrency, thread_name_prefix="put-block") as pool:
                try:
                    futures = [pool.submit(self._put_block, fd, i) for i in indices]
                    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                    for future in done:
                        future.result()
                except BaseException:  # a block failed for good, or Ctrl-C: don't start any more blocks
                    self._stop.set()
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
        finally:
            os.close(fd)

    def commit(self, content_type: str) -> None:
        body = "".join(f"<Latest>{escape(wire_id)}</Latest>" for wire_id in self._plan.ids())
        xml = f'<?xml version="1.0" encoding="utf-8"?><BlockList>{body}</BlockList>'.encode()

        def send(target: SasTarget) -> httpx.Response:
            headers = {
                "x-ms-version": target.api_version,
                "x-ms-blob-content-type": content_type,
                "Content-Type": "application/xml",
            }
            return self._http.put(f"{target.url}&comp=blocklist", content=xml, headers=headers)

        self._with_retries("commit", send)

    def _put_block(self, fd: int, index: int) -> None:
        if self._stop.is_set():
            return
        offset, length = self._plan.offset(index), self._plan.length(index)
        md5 = _md5_of(fd, offset, length) if self._options.checksum else None

        def send(target: SasTarget) -> httpx.Response:
            headers = {"x-ms-version": target.api_version, "Content-Length": str(length)}
            if md5:
                headers["Content-MD5"] = md5
            url = f"{target.url}&comp=block&blockid={quote(block_id(index, self._plan.tag), safe='')}"
            return self._http.put(url, content=self._stream(fd, offset, length), headers=headers)

        self._with_retries(f"block {index}", send)
        self._on_bytes(length)

    def _stream(self, fd: int, offset: int, length: int) -> Iterator[bytes]:
        end = offset + length
        while offset < end:
            chunk = os.pread(fd, min(SLICE, end - offset), offset)
            if not chunk:
                raise FileChangedError(f"{CHANGED_WHILE_SENDING} (it got shorter); {START_AFRESH}")
            self._limiter.consume(len(chunk))
            offset += len(chunk)
            yield chunk

    def _with_retries(self, what: str, send: Callable[[SasTarget], httpx.Response]) -> None:
        target = self._sas.current()
        renewed = False
        for attempt in range(1, self._options.max_attempts + 1):
            try:
                response = send(target)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return
                problem = f"HTTP {response.status_code} {_storage_code(response)}"
                if _storage_code(response) == "Md5Mismatch":
                    raise FileChangedError(
                        f"{CHANGED_WHILE_SENDING} ({what} no longer matched the checksum taken just before); "
                        + START_AFRESH
                    )
                if response.status_code == 403 and not renewed:
                    target, renewed = self._sas.renew(target), True
                    continue
                if response.status_code not in RETRYABLE_STATUS:
                    raise UploadError(f"{what} was refused: {problem}")
            if self._stop.is_set() or attempt == self._options.max_attempts:
                break
            time.sleep(min(0.5 * 2 ** (attempt - 1), 30.0) * random.uniform(0.8, 1.2))  # noqa: S311  # retry jitter  # nosec B311
            target = self._sas.current()
        raise UploadError(f"{what} failed after {self._options.max_attempts} attempts: {problem}")


_scratch = threading.local()


def _md5_of(fd: int, offset: int, length: int) -> str:
    """Hash the block from the page cache into a reused per-thread buffer (no allocation per slice)."""
    buffer = getattr(_scratch, "buffer", None)
    if buffer is None:
        buffer = _scratch.buffer = bytearray(HASH_SLICE)
    view = memoryview(buffer)
    digest = hashlib.md5(usedforsecurity=False)
    end = offset + length
    while offset < end:
        n = os.preadv(fd, [view[: min(HASH_SLICE, end - offset)]], offset)
        if n == 0:
            raise FileChangedError(f"{CHANGED_WHILE_SENDING} (it got shorter); {START_AFRESH}")
        digest.update(view[:n])
        offset += n
    return base64.b64encode(digest.digest()).decode("ascii")


def _storage_code(response: httpx.Response) -> str:
    code = response.headers.get("x-ms-error-code")
    return code or response.reason_phrase
