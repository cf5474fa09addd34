"""The probe and the window decoder on real blobs in Azurite, through BlobRangeReader: the committed clips give the
same answers as from disk, and a 200 MB WAV is probed and windowed with a few MB of range reads."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import ContainerClient

from devhost.azurite import Azurite
from shared.audio import BlobRangeReader, probe, read_window
from tests.unit.test_audio_fakes import DATA, GeneratedFile, ramp_value, ramp_wav

CLIPS = ["speech_16k_mono.wav", "speech_44k_stereo.flac", "speech.mp3", "speech.m4a", "speech.opus", "long.flac"]
BIG_SECONDS = 6300.0  # 1 h 45 min of 16 kHz PCM16: 201.6 MB
MIB = 1 << 20


@pytest.fixture(scope="module")
def audio_container() -> Iterator[ContainerClient]:
    with Azurite() as azurite:
        container = ContainerClient.from_connection_string(azurite.connection_string, "uploads")
        container.create_container()
        for clip in CLIPS:
            container.upload_blob(f"clips/{clip}", (DATA / clip).read_bytes())
        body, size = ramp_wav(BIG_SECONDS)
        # Streamed from a generator in 8 MiB blocks: the 200 MB file never exists, in memory or on disk.
        container.upload_blob("big/meeting.wav", GeneratedFile(body, size), length=size, max_concurrency=4)
        yield container


@pytest.mark.parametrize("clip", CLIPS)
def test_a_clip_from_storage_matches_the_clip_from_disk(audio_container: ContainerClient, clip: str) -> None:
    reader = BlobRangeReader(audio_container.get_blob_client(f"clips/{clip}"))
    local = io.BytesIO((DATA / clip).read_bytes())
    info = probe(reader, clip)
    assert info == probe(local, clip)
    assert np.array_equal(read_window(reader, info, 3.3, 8.3), read_window(local, info, 3.3, 8.3))
    assert reader.bytes_fetched <= reader.size + 2 * MIB  # small clips fit in one or two chunks


def test_a_200_mb_wav_is_probed_and_windowed_with_a_few_range_reads(audio_container: ContainerClient) -> None:
    blob = audio_container.get_blob_client("big/meeting.wav")
    reader = BlobRangeReader(blob)
    assert reader.size > 200_000_000
    info = probe(reader, "meeting.wav")
    assert info.duration_s == pytest.approx(BIG_SECONDS) and info.decoder == "soundfile"
    start = BIG_SECONDS / 2 + 0.0123
    window = read_window(reader, info, start, start + 5.0)
    n0 = round(start * 16000)
    assert np.array_equal(window, (ramp_value(np.arange(n0, n0 + 80_000)) / 32768.0).astype(np.float32))
    assert reader.requests <= 5, reader.requests  # properties, header chunk, tail chunk, window chunk(s)
    assert reader.bytes_fetched <= 4 * MIB, reader.bytes_fetched


def test_a_blob_replaced_while_it_is_read_fails_loudly(audio_container: ContainerClient) -> None:
    """Reads are pinned to the ETag the reader started with: two versions of a file are never mixed."""
    blob = audio_container.get_blob_client("clips/replaced.wav")
    blob.upload_blob((DATA / "silence.wav").read_bytes())
    reader = BlobRangeReader(blob, chunk_size=4096)
    reader.read(100)
    blob.upload_blob((DATA / "speech_16k_mono.wav").read_bytes(), overwrite=True)
    reader.seek(20_000)
    with pytest.raises(ResourceModifiedError):
        reader.read(100)


def test_a_missing_blob_is_not_found(audio_container: ContainerClient) -> None:
    with pytest.raises(ResourceNotFoundError):
        BlobRangeReader(audio_container.get_blob_client("clips/nothing.wav"))
