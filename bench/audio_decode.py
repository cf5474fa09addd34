"""What a probe and a window decode cost per format: latency, speed against real time, and bytes fetched.

    .venv/bin/python -m bench.audio_decode --minutes 20 --window 300

Each format gets a file of ``--minutes`` of speech (tests/data/long.flac repeated), encoded in memory with
libsndfile or PyAV and served through :class:`BlobRangeReader` by an in-memory stand-in for ``BlobClient`` that
counts range reads. There is no network here: this measures decode work and I/O volume, not storage latency
(multiply the requests by a round trip for that). Windows are taken at 5 %, 50 % and 95 % of the file, so the
position-dependent cost of MP3 seeking shows.
"""

from __future__ import annotations

import argparse
import io
import platform
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile as sf

from shared.audio import BlobRangeReader, probe, read_window

SOURCE = Path(__file__).resolve().parent.parent / "tests" / "data" / "long.flac"


class _Download:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def readall(self) -> bytes:
        return self._data


class MemoryBlob:
    """``download_blob(offset, length)`` over bytes, as BlobClient does over HTTP."""

    blob_name = "bench"

    def __init__(self, data: bytes) -> None:
        self.data = data

    def download_blob(self, offset: int, length: int, **_: Any) -> _Download:
        return _Download(self.data[offset : offset + length])


def libsndfile_bytes(samples: np.ndarray, fmt: str, subtype: str) -> bytes:
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", 16000, 1, format=fmt, subtype=subtype) as out:
        for pos in range(0, len(samples), 8192):  # libsndfile's Vorbis encoder crashes on big writes
            out.write(samples[pos : pos + 8192])
    return buf.getvalue()


def pyav_bytes(samples: np.ndarray, container: str, codec: str, rate: int, bit_rate: int) -> bytes:
    if rate != 16000:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = 16000
        samples = np.concatenate([f.to_ndarray()[0] for f in resampler.resample(frame) + resampler.resample(None)])
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream: Any = out.add_stream(codec, rate=rate, layout="mono")
        stream.bit_rate = bit_rate
        size = stream.codec_context.frame_size or 1024
        planar = stream.codec_context.format.is_planar
        for pos in range(0, len(samples), size):
            chunk = samples[pos : pos + size].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp" if planar else "flt", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, pos, Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


FORMATS = {
    "wav": lambda x: libsndfile_bytes(x, "WAV", "PCM_16"),
    "flac": lambda x: libsndfile_bytes(x, "FLAC", "PCM_16"),
    "ogg-vorbis": lambda x: libsndfile_bytes(x, "OGG", "VORBIS"),
    "mp3-cbr": lambda x: pyav_bytes(x, "mp3", "libmp3lame", 22050, 64000),
    "m4a-aac": lambda x: pyav_bytes(x, "mp4", "aac", 44100, 64000),
    "webm-opus": lambda x: pyav_bytes(x, "webm", "libopus", 48000, 32000),
}


def measure(name: str, data: bytes, window_s: float, chunk_size: int) -> str:
    reader = BlobRangeReader(MemoryBlob(data), len(data), chunk_size=chunk_size)  # type: ignore[arg-type]
    started = time.perf_counter()
    info = probe(reader, f"bench.{name}")
    probe_ms = (time.perf_counter() - started) * 1000
    probe_requests, probe_bytes = reader.requests, reader.bytes_fetched
    cells = []
    for at in (0.05, 0.5, 0.95):
        start = min(at * info.duration_s, info.duration_s - window_s - 1.0)  # headers may round the end up
        before_requests, before_bytes = reader.requests, reader.bytes_fetched
        started = time.perf_counter()
        samples = read_window(reader, info, start, start + window_s)
        seconds = time.perf_counter() - started
        assert len(samples) == round((start + window_s) * 16000) - round(start * 16000)
        cells.append(
            f"{seconds * 1000:6.0f} ms {window_s / seconds:5.0f}x "
            f"{reader.requests - before_requests:3d} req {(reader.bytes_fetched - before_bytes) / 1e6:6.2f} MB"
        )
    return (
        f"| {name} | {len(data) / 1e6:.1f} | {info.decoder} | {probe_ms:.0f} ms, {probe_requests} req, "
        f"{probe_bytes / 1e6:.2f} MB | " + " | ".join(cells) + " |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--window", type=float, default=300.0, help="window length in seconds")
    parser.add_argument("--chunk-mib", type=float, default=1.0, help="BlobRangeReader chunk size")
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()

    speech, rate = sf.read(SOURCE, dtype="float32")
    assert rate == 16000
    samples = np.tile(speech, int(np.ceil(args.minutes * 60 * rate / len(speech))))[: int(args.minutes * 60 * rate)]
    print(f"{platform.processor() or platform.machine()}, {args.minutes:g} min files, {args.window:g} s windows")
    print("| format | MB | decoder | probe | window at 5 % | at 50 % | at 95 % |")
    print("|---|---|---|---|---|---|---|")
    for name in args.formats.split(","):
        data = FORMATS[name](samples)
        print(measure(name, data, args.window, int(args.chunk_mib * (1 << 20))), flush=True)


if __name__ == "__main__":
    main()
