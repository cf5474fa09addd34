"""A seekable, read-only file object over a blob, for libsndfile and FFmpeg: no copy of the audio is made.

Both libraries want a file: they parse headers, seek to an index, and then read sequentially in small pieces
(libsndfile asks for a few KiB at a time, FFmpeg for 32 KiB). Mapping each of those to an HTTP request would cost
thousands of round trips per window, and downloading the blob first would defeat the design (a worker's disk and
memory must not scale with the file). :class:`BlobRangeReader` therefore fetches aligned chunks (1 MiB by default)
with range reads and keeps the last few in an LRU, so memory is ``chunk_size * max_chunks`` whatever the blob's
size, and a header parse plus a window decode costs a handful of requests. Reads at least a chunk long bypass the
cache (one request straight into the caller's buffer, nothing kept).

:class:`GuardedFile` exists because libsndfile calls Python through cffi callbacks, which swallow exceptions (they
are printed as "unraisable" and the library just sees end of file, which would turn a storage outage into
``corrupt_audio``). The guard records the exception so the caller can re-raise it once the library returns.
"""

from __future__ import annotations

import io
import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, BinaryIO, TypeAlias

from shared.azure.storage import storage_errors
from shared.errors import TransientError
from shared.telemetry import tracing
from shared.telemetry.names import Attr, Span

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from azure.storage.blob import BlobClient

logger = logging.getLogger(__name__)

AudioSource: TypeAlias = io.RawIOBase | io.BufferedIOBase | BinaryIO
"""What the probe and the decoder accept: any seekable binary file (a reader, an open file, a BytesIO)."""

DEFAULT_CHUNK_SIZE = 1 << 20
DEFAULT_MAX_CHUNKS = 4


class BlobRangeReader(io.RawIOBase):
    """Read-only, seekable view of one blob, fetched with HTTP range reads through a small chunk cache.

    Args:
      blob: the source blob (the app's or the worker's credential; needs read permission only).
      size: the blob's length in bytes, when the caller already knows it (the job record does); otherwise
        the properties are read once here.
      etag: pin every range read to this version of the blob (``If-Match``), so a blob overwritten while a
        job runs fails loudly (``ResourceModifiedError``) instead of mixing two files. Taken from the
        properties when ``size`` is not given.
      chunk_size: bytes per range read; the unit of caching.
      max_chunks: how many chunks are kept (least recently used goes first).

    Attributes:
      requests: range reads issued so far (``download_blob`` calls).
      bytes_fetched: bytes those reads returned.
      read_s: seconds spent waiting for range reads (the rest of a decode is CPU).
    """

    def __init__(
        self,
        blob: BlobClient,
        size: int | None = None,
        *,
        etag: str | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_chunks: int = DEFAULT_MAX_CHUNKS,
    ) -> None:
        super().__init__()
        if chunk_size <= 0 or max_chunks <= 0:
            raise ValueError(f"chunk_size and max_chunks must be positive, got {chunk_size} and {max_chunks}")
        self._blob = blob
        self.name = getattr(blob, "blob_name", "blob")
        self.chunk_size = chunk_size
        self.max_chunks = max_chunks
        self.requests = 0
        self.bytes_fetched = 0
        self.read_s = 0.0
        if size is None:
            with storage_errors("reading blob properties"):
                props = blob.get_blob_properties()
            size, etag = props.size, etag or props.etag
            self.requests += 1
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        self.size: int = size
        self.etag = etag
        self._pos = 0
        self._chunks: OrderedDict[int, bytes] = OrderedDict()

    # --- io.RawIOBase --------------------------------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError(22, f"negative seek position {pos}")
        self._pos = pos  # past the end is allowed, as for files; reads there return b""
        return pos

    def readinto(self, buffer: WriteableBuffer) -> int:
        self._check_open()
        out = memoryview(buffer).cast("B")
        n = min(len(out), self.size - self._pos)
        if n <= 0:
            return 0
        if n >= self.chunk_size:  # a big read: one request, nothing cached
            out[:n] = self._fetch(self._pos, n)
        else:
            done = 0
            while done < n:
                index, offset = divmod(self._pos + done, self.chunk_size)
                chunk = self._chunk(index)
                take = min(n - done, len(chunk) - offset)
                out[done : done + take] = chunk[offset : offset + take]
                done += take
        self._pos += n
        return n

    def close(self) -> None:
        self._chunks.clear()
        super().close()

    # --- internals -----------------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed reader")

    def _chunk(self, index: int) -> bytes:
        chunk = self._chunks.get(index)
        if chunk is not None:
            self._chunks.move_to_end(index)
            return chunk
        start = index * self.chunk_size
        chunk = self._fetch(start, min(self.chunk_size, self.size - start))
        self._chunks[index] = chunk
        if len(self._chunks) > self.max_chunks:
            self._chunks.popitem(last=False)
        return chunk

    def _fetch(self, offset: int, length: int) -> bytes:
        kwargs: dict[str, Any] = {}
        if self.etag:
            from azure.core import MatchConditions

            kwargs = {"etag": self.etag, "match_condition": MatchConditions.IfNotModified}
        self.requests += 1
        started = time.perf_counter()
        with (
            tracing.child(Span.BLOB_RANGE_READ, {Attr.BYTES: length}, tracing.CLIENT),
            storage_errors(f"range read of {self.name}"),
        ):
            data = self._blob.download_blob(offset=offset, length=length, max_concurrency=1, **kwargs).readall()
        self.read_s += time.perf_counter() - started
        if len(data) != length:  # a blob that shrank under an unpinned reader, or a proxy that cut the body
            raise TransientError(f"range read of {self.name} returned {len(data)} of {length} bytes at {offset}")
        self.bytes_fetched += length
        logger.debug("range read %s [%d, %d)", self.name, offset, offset + length)
        return data


class GuardedFile(io.RawIOBase):
    """Wraps a file object for libraries that call it from C and swallow exceptions (libsndfile via cffi).

    A failed read is recorded in :attr:`failure` and reported to the library as end of file; the caller must
    call :meth:`raise_failure` when the library returns (whether it succeeded or not), so the real cause, e.g.
    a :class:`TransientError` from storage, wins over whatever the library concluded from the short read.
    """

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self._inner = inner
        self.failure: BaseException | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self._inner.seek(offset, whence))

    def tell(self) -> int:
        return int(self._inner.tell())

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self.failure is not None:
            return 0
        try:
            if hasattr(self._inner, "readinto"):
                return int(self._inner.readinto(buffer))
            data = self._inner.read(len(memoryview(buffer)))
            memoryview(buffer).cast("B")[: len(data)] = data
            return len(data)
        except Exception as exc:  # recorded, re-raised by raise_failure() outside the C library
            self.failure = exc
            return 0

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure
