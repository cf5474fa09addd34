"""BlobRangeReader behaves like a read-only file, caches a bounded number of chunks, counts what it fetches, and
turns storage trouble into TransientError; GuardedFile keeps failures from being swallowed by C callbacks."""

from __future__ import annotations

import io
import random

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError
from azure.storage.blob import BlobClient

from devhost.processes import free_port
from shared.audio.blob_reader import BlobRangeReader, GuardedFile
from shared.azure.storage import azurite_connection_string
from shared.errors import TransientError
from tests.unit.test_audio_fakes import FakeBlob, ramp_wav

KIB = 1024


def _data(size: int, seed: int = 3) -> bytes:
    return random.Random(seed).randbytes(size)


def test_reads_and_seeks_like_a_file() -> None:
    data = _data(100_000)
    reader = BlobRangeReader(FakeBlob(data), len(data), chunk_size=4 * KIB, max_chunks=3)
    expected = io.BytesIO(data)
    rng = random.Random(5)
    for _ in range(500):
        op = rng.random()
        if op < 0.3:
            whence = rng.choice([io.SEEK_SET, io.SEEK_CUR, io.SEEK_END])
            offset = {io.SEEK_SET: rng.randrange(0, 110_000), io.SEEK_CUR: rng.randrange(-500, 500)}.get(
                whence, rng.randrange(-120_000, 100)
            )
            if {io.SEEK_SET: 0, io.SEEK_CUR: expected.tell(), io.SEEK_END: len(data)}[whence] + offset < 0:
                continue
            assert reader.seek(offset, whence) == expected.seek(offset, whence)
        else:
            n = rng.choice([1, 7, 100, 4 * KIB - 1, 4 * KIB, 9 * KIB])
            assert reader.read(n) == expected.read(n)
        assert reader.tell() == expected.tell()
    assert reader.readable() and reader.seekable() and not reader.writable()


def test_small_reads_share_one_request_per_chunk() -> None:
    data = _data(3 * 64 * KIB)
    blob = FakeBlob(data)
    reader = BlobRangeReader(blob, len(data), chunk_size=64 * KIB, max_chunks=2)
    out = b"".join(iter(lambda: reader.read(1000), b""))
    assert out == data
    assert reader.requests == 3 and reader.bytes_fetched == len(data)
    assert [c["offset"] for c in blob.calls] == [0, 64 * KIB, 128 * KIB]
    reader.seek(130 * KIB)
    reader.read(100)  # still cached
    assert reader.requests == 3


def test_memory_is_bounded_by_the_chunk_cache() -> None:
    body, size = ramp_wav(600.0)  # 19 MB
    reader = BlobRangeReader(FakeBlob(body, size), size, chunk_size=256 * KIB, max_chunks=4)
    while reader.read(32 * KIB):
        assert len(reader._chunks) <= 4
    assert reader.bytes_fetched == size


def test_least_recently_used_chunk_is_dropped() -> None:
    data = _data(10 * KIB)
    reader = BlobRangeReader(FakeBlob(data), len(data), chunk_size=KIB, max_chunks=2)
    for offset in (0, KIB, 0, 2 * KIB):  # chunk 0 used again, so chunk 1 is the one dropped
        reader.seek(offset)
        reader.read(10)
    assert reader.requests == 3
    reader.seek(0)
    reader.read(10)
    assert reader.requests == 3
    reader.seek(KIB)
    reader.read(10)
    assert reader.requests == 4


def test_a_read_of_a_chunk_or_more_is_one_uncached_request() -> None:
    data = _data(50 * KIB)
    blob = FakeBlob(data)
    reader = BlobRangeReader(blob, len(data), chunk_size=8 * KIB, max_chunks=2)
    reader.seek(100)
    assert reader.read(30 * KIB) == data[100 : 100 + 30 * KIB]
    assert blob.calls[-1]["offset"] == 100 and blob.calls[-1]["length"] == 30 * KIB
    assert reader.requests == 1 and not reader._chunks


def test_reads_at_or_past_the_end_return_nothing_and_cost_nothing() -> None:
    data = _data(1000)
    reader = BlobRangeReader(FakeBlob(data), len(data), chunk_size=KIB)
    reader.seek(990)
    assert reader.read(100) == data[990:]
    assert reader.read(100) == b""
    reader.seek(5000)
    assert reader.read(10) == b""
    assert reader.requests == 1
    with pytest.raises(OSError, match="negative"):
        reader.seek(-1)


def test_an_empty_blob_needs_no_request() -> None:
    reader = BlobRangeReader(FakeBlob(b""), 0)
    assert reader.read() == b"" and reader.requests == 0


def test_size_and_etag_come_from_one_properties_call_and_pin_every_read() -> None:
    data = _data(5000)
    blob = FakeBlob(data, etag='"v1"')
    reader = BlobRangeReader(blob, chunk_size=KIB)
    assert reader.size == 5000 and blob.properties_calls == 1 and reader.requests == 1
    reader.read(3000)
    assert blob.properties_calls == 1
    assert all(c["etag"] == '"v1"' and c["match_condition"] == MatchConditions.IfNotModified for c in blob.calls)


def test_a_known_size_skips_the_properties_call_and_reads_unpinned() -> None:
    blob = FakeBlob(_data(100))
    reader = BlobRangeReader(blob, 100)
    reader.read(10)
    assert blob.properties_calls == 0 and "etag" not in blob.calls[0]


@pytest.mark.parametrize(
    "error",
    [ServiceRequestError("connection refused"), HttpResponseError(response=None, message="busy")],
)
def test_storage_trouble_is_transient(error: Exception) -> None:
    if isinstance(error, HttpResponseError):
        error.status_code = 503
    blob = FakeBlob(_data(100))
    blob.fail_after, blob.fail_with = 0, error
    reader = BlobRangeReader(blob, 100)
    with pytest.raises(TransientError) as caught:
        reader.read(10)
    assert caught.value.code.slug == "storage_unavailable" and caught.value.__cause__ is error


def test_a_missing_blob_is_not_transient() -> None:
    blob = FakeBlob(_data(100))
    blob.fail_after, blob.fail_with = 0, ResourceNotFoundError("gone")
    with pytest.raises(ResourceNotFoundError):
        BlobRangeReader(blob, 100).read(10)


def test_a_short_body_is_transient() -> None:
    blob = FakeBlob(lambda offset, length: b"x" * (length - 1), size=100)
    with pytest.raises(TransientError, match="99 of 100"):
        BlobRangeReader(blob, 100).read(100)


def test_unreachable_storage_through_the_real_sdk_is_transient() -> None:
    conn = azurite_connection_string(blob_port=free_port())  # nothing listens there
    blob = BlobClient.from_connection_string(conn, "uploads", "a.wav", retry_total=0, connection_timeout=2)
    with pytest.raises(TransientError):
        BlobRangeReader(blob, 1000).read(10)
    with pytest.raises(TransientError):
        BlobRangeReader(blob)  # the properties call


def test_closed_reader_refuses_io() -> None:
    reader = BlobRangeReader(FakeBlob(b"abc"), 3)
    reader.read(1)
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.read(1)
    assert not reader._chunks


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="positive"):
        BlobRangeReader(FakeBlob(b""), 0, chunk_size=0)
    with pytest.raises(ValueError, match="size"):
        BlobRangeReader(FakeBlob(b""), -1)


def test_guarded_file_records_a_failure_and_reports_end_of_file() -> None:
    blob = FakeBlob(_data(100))
    blob.fail_after, blob.fail_with = 0, ServiceRequestError("connection reset")
    guarded = GuardedFile(BlobRangeReader(blob, 100))
    assert guarded.readinto(bytearray(10)) == 0
    assert isinstance(guarded.failure, TransientError)
    assert guarded.readinto(bytearray(10)) == 0 and len(blob.calls) == 1  # no retry behind the library's back
    with pytest.raises(TransientError):
        guarded.raise_failure()


def test_guarded_file_passes_reads_and_seeks_through() -> None:
    guarded = GuardedFile(io.BytesIO(b"0123456789"))
    assert guarded.seek(3) == 3 and guarded.read(4) == b"3456" and guarded.tell() == 7
    guarded.raise_failure()  # nothing failed
