"""A declared duration the file cannot hold is measured instead (shared/audio/duration.py), before any planning.

Issue 22: a 22 s MP3 whose Xing frame count was patched probed as hundreds of thousands of seconds, was planned
into hundreds of windows of nothing, and "completed" with that duration. Here the probe of such files gives the
audio's real length (to the MPEG frame: speech.mp3's honest probe says 22.007 s, its packets end at 22.023 s), keeps
what the headers declared, and reads the small file once; honest files are not re-measured.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from shared.audio.blob_reader import BlobRangeReader
from shared.audio.duration import ceiling_s, floor_bps
from shared.audio.probe import probe
from shared.transcripts.windows import window_count
from tests.faults.bad_inputs import DATA, lying_mp3
from tests.unit.test_audio_fakes import FakeBlob

REAL_S = 22.0
FRAME_S = 576 / 22050  # one MPEG-2 layer III frame at 22.05 kHz: the measure's precision


@pytest.mark.parametrize(
    ("frames", "declared_s"),
    [(6_890_625, 180_000.0), (0x00FFFFFF, 438_261.9), (0xFFFFFFFF, 112_195_064.0)],
    ids=["50_hours", "0x00FFFFFF", "0xFFFFFFFF"],
)
def test_a_patched_xing_frame_count_is_measured_not_believed(tmp_path: Path, frames: int, declared_s: float) -> None:
    data = lying_mp3(frames)(tmp_path).read_bytes()
    reader = BlobRangeReader(FakeBlob(data), len(data), chunk_size=16 * 1024, max_chunks=4)
    info = probe(reader, "talk.mp3")
    assert info.duration_s == pytest.approx(REAL_S, abs=2 * FRAME_S)
    assert info.declared_duration_s == pytest.approx(declared_s, rel=1e-3)
    # the header reads of every probe (start and end), then one pass over the file through a small cache
    assert reader.bytes_fetched <= len(data) + 4 * reader.chunk_size
    assert window_count(info.duration_s, window_s=300.0, workers=1, min_window_s=30.0) == 1


def _ogg_crc(page: bytes) -> int:
    """Ogg's page checksum: CRC-32, polynomial 0x04C11DB7, no reflection, initial value 0."""
    crc = 0
    for byte in page:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        crc &= 0xFFFFFFFF
    return crc


def test_an_ogg_whose_last_granule_position_declares_10_hours_is_measured() -> None:
    """FFmpeg takes an Ogg stream's duration from its last page's granule position; patched (and re-checksummed)
    to 10 hours in speech.opus (65 KB: at most 521 s at 1 kb/s), the packets still say 22 s."""
    data = bytearray((DATA / "speech.opus").read_bytes())
    last = data.rfind(b"OggS")
    struct.pack_into("<q", data, last + 6, 48_000 * 36_000)
    struct.pack_into("<I", data, last + 22, 0)
    struct.pack_into("<I", data, last + 22, _ogg_crc(bytes(data[last:])))
    info = probe(io.BytesIO(bytes(data)), "talk.opus")
    assert info.duration_s == pytest.approx(REAL_S, abs=0.05)
    assert info.declared_duration_s == pytest.approx(36_000.0)


def test_honest_files_keep_their_headers_word() -> None:
    for clip in ("speech.mp3", "speech.m4a", "speech.opus"):
        with (DATA / clip).open("rb") as f:
            info = probe(f, clip)
        assert info.declared_duration_s is None and info.duration_s == pytest.approx(REAL_S, abs=0.05), clip


def test_the_floors_are_the_codecs_lowest_bitrates() -> None:
    assert floor_bps("mp3", 44100) == 32_000  # MPEG-1 layer III's lowest bitrate index
    assert floor_bps("mp3", 22050) == 8_000  # MPEG-2 (and 2.5): 8 kb/s
    assert floor_bps("opus", 48000) == 1_000
    assert ceiling_s(47_000, "mp3", 44100) == pytest.approx(11.75)  # the 47 KB file cannot be 180,000 s
