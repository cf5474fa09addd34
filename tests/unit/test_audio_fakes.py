"""Test doubles for the audio tests (a blob client over bytes, huge synthetic WAVs, in-memory encoders), and the
checks that the doubles themselves are right: an assertion about a fake is only as good as the fake.

The synthetic WAV is generated per range, never held: a "2 GiB file" costs nothing, so the tests can assert that
probing and decoding one touch a few MB. Its samples are a ramp with a prime period, so any decoded sample says
exactly which sample of the file it is.
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import soundfile as sf

DATA = Path(__file__).resolve().parent.parent / "data"

Body = Callable[[int, int], bytes]  # (offset, length) -> bytes


# --- a BlobClient stand-in -----------------------------------------------------------------------------------------


class _Download:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def readall(self) -> bytes:
        return self._data


class FakeBlob:
    """Enough of ``azure.storage.blob.BlobClient`` for the reader: ranged ``download_blob`` and properties.

    ``fail_after`` makes every range read after that many raise ``fail_with`` (a storage outage mid-decode).
    """

    blob_name = "uploads/job/fake.bin"

    def __init__(self, body: bytes | Body, size: int | None = None, etag: str = '"0x8D0000000000001"') -> None:
        if isinstance(body, bytes):
            data = body
            self._body: Body = lambda offset, length: data[offset : offset + length]
            self.size = len(data)
        else:
            assert size is not None
            self._body, self.size = body, size
        self.etag = etag
        self.calls: list[dict[str, Any]] = []
        self.properties_calls = 0
        self.fail_after: int | None = None
        self.fail_with: Exception = OSError("boom")

    def download_blob(self, offset: int, length: int, **kwargs: Any) -> _Download:
        self.calls.append({"offset": offset, "length": length, **kwargs})
        if self.fail_after is not None and len(self.calls) > self.fail_after:
            raise self.fail_with
        return _Download(self._body(offset, length))

    def get_blob_properties(self) -> SimpleNamespace:
        self.properties_calls += 1
        return SimpleNamespace(size=self.size, etag=self.etag)


# --- a huge WAV that exists only as a function of the byte range ---------------------------------------------------

RAMP_PERIOD = 32749  # prime, about 2 s at 16 kHz: sample i holds (i % RAMP_PERIOD) - RAMP_PERIOD // 2
WAV_HEADER = 44


def ramp_value(index: np.ndarray) -> np.ndarray:
    return (index % RAMP_PERIOD) - RAMP_PERIOD // 2


def ramp_wav(seconds: float, rate: int = 16000) -> tuple[Body, int]:
    """A mono PCM16 WAV of ``seconds`` whose sample i is ``ramp_value(i)``: (body, size). Under 4 GiB."""
    frames = round(seconds * rate)
    data_size = frames * 2
    size = WAV_HEADER + data_size
    assert size < 1 << 32, "plain WAV sizes are 32-bit"
    header = b"RIFF" + struct.pack("<I", size - 8) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    header += b"data" + struct.pack("<I", data_size)

    def body(offset: int, length: int) -> bytes:
        out = bytearray()
        end = min(size, offset + length)
        if offset < WAV_HEADER:
            out += header[offset:end]
        lo, hi = max(offset, WAV_HEADER) - WAV_HEADER, end - WAV_HEADER
        if hi > lo:
            first, last = lo // 2, (hi + 1) // 2
            samples = ramp_value(np.arange(first, last, dtype=np.int64)).astype("<i2").tobytes()
            out += samples[lo - first * 2 : hi - first * 2]
        return bytes(out)

    return body, size


class GeneratedFile(io.RawIOBase):
    """A read-only file over a ``Body``: lets the storage SDK upload a huge synthetic blob in bounded memory."""

    def __init__(self, body: Body, size: int) -> None:
        super().__init__()
        self._body, self._size, self._pos = body, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence] + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._body(self._pos, min(len(view), max(0, self._size - self._pos)))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)


# --- signals and in-memory encoders --------------------------------------------------------------------------------


@functools.cache
def speech_16k() -> np.ndarray:
    """The committed passage as float32 at 16 kHz: the reference every rendition is compared with."""
    samples, rate = sf.read(DATA / "speech_16k_mono.wav", dtype="float32")
    assert rate == 16000
    return samples


def clicks(seconds: float, rate: int, times: list[float], channels: int = 1) -> np.ndarray:
    """Silence with one full-scale sample at each of ``times`` (the nearest sample), shape (frames, channels)."""
    out = np.zeros((round(seconds * rate), channels), np.float32)
    for t in times:
        out[round(t * rate), :] = 0.9
    return out


def wav_bytes(samples: np.ndarray, rate: int, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    """Write with libsndfile (WAV, FLAC, OGG...). In blocks: libsndfile 1.2's Vorbis encoder crashes on big writes."""
    buf = io.BytesIO()
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with sf.SoundFile(buf, "w", rate, channels, subtype=subtype, format=fmt) as out:
        for pos in range(0, len(samples), 8192):
            out.write(samples[pos : pos + 8192])
    return buf.getvalue()


class _WriteOnly(io.RawIOBase):
    """A non-seekable sink, as when a browser streams a recording: muxers cannot go back to write a duration."""

    def __init__(self, sink: io.BytesIO) -> None:
        super().__init__()
        self._sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._sink.write(data)


def encode(
    samples: np.ndarray,
    rate: int,
    container: str,
    codec: str,
    *,
    bit_rate: int | None = None,
    codec_options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    seekable: bool = True,
) -> bytes:
    """Encode float samples (frames,) or (frames, channels) with PyAV, in memory."""
    frames = (samples[:, None] if samples.ndim == 1 else samples).astype(np.float32)
    layout = "mono" if frames.shape[1] == 1 else "stereo"
    buf = io.BytesIO()
    target: Any = buf if seekable else _WriteOnly(buf)
    with av.open(target, "w", format=container, options=container_options or {}) as out:
        stream: Any = out.add_stream(codec, rate=rate, layout=layout, options=codec_options or {})
        if bit_rate:
            stream.bit_rate = bit_rate
        size = stream.codec_context.frame_size or 1024
        planar = stream.codec_context.format.is_planar
        for pos in range(0, len(frames), size):
            chunk = frames[pos : pos + size]
            array = chunk.T.copy() if planar else chunk.reshape(1, -1).copy()
            frame = av.AudioFrame.from_ndarray(array, format="fltp" if planar else "flt", layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, pos, Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def video_only_mp4() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream: Any = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def png_image() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="image2pipe") as out:
        stream: Any = out.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "rgb24"
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


SPEECH_ENCODINGS: dict[str, Callable[[np.ndarray], bytes]] = {
    "flac": lambda x: wav_bytes(x, 16000, fmt="FLAC"),
    "ogg": lambda x: wav_bytes(x, 16000, fmt="OGG", subtype="VORBIS"),
    "mp3": lambda x: encode(x, 16000, "mp3", "libmp3lame", bit_rate=32000),
    "m4a": lambda x: encode(x, 16000, "mp4", "aac", bit_rate=32000),
    "webm": lambda x: encode(x, 16000, "webm", "libopus", bit_rate=24000),
}


@functools.cache
def speech_encoded(kind: str, repeats: int = 1) -> bytes:
    """The passage repeated ``repeats`` times (22 s each), in one of SPEECH_ENCODINGS; cached for the session."""
    return SPEECH_ENCODINGS[kind](np.tile(speech_16k(), repeats))


def full_decode_16k(data: bytes) -> np.ndarray:
    """The whole file through FFmpeg and the same resampler, with no seeking: what a window must be a slice of."""
    from shared.audio.pcm import MonoResampler, frame_to_mono

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        resampler = MonoResampler(stream.codec_context.sample_rate)
        parts = [resampler.feed(frame_to_mono(frame)) for frame in container.decode(stream)]
    return np.concatenate([*parts, resampler.flush()])


def best_lag(window: np.ndarray, reference: np.ndarray, start: int, max_lag: int = 400) -> tuple[int, float]:
    """The shift (in samples) of ``window`` against ``reference[start:]`` that correlates best, and that score."""
    best = (0, -2.0)
    n = len(window)
    for lag in range(-max_lag, max_lag + 1):
        lo = start + lag
        if lo < 0 or lo + n > len(reference):
            continue
        ref = reference[lo : lo + n]
        score = float(np.dot(window, ref) / (np.linalg.norm(window) * np.linalg.norm(ref) + 1e-12))
        if score > best[1]:
            best = (lag, score)
    return best


# --- the doubles' own tests ----------------------------------------------------------------------------------------


def test_ramp_wav_is_a_valid_wav_whose_samples_are_the_ramp() -> None:
    body, size = ramp_wav(3.0)
    data = body(0, size)
    assert len(data) == size
    samples, rate = sf.read(io.BytesIO(data), dtype="int16")
    assert rate == 16000 and len(samples) == 48000
    assert np.array_equal(samples, ramp_value(np.arange(48000)))


def test_ramp_wav_ranges_agree_with_the_whole() -> None:
    body, size = ramp_wav(1.0)
    whole = body(0, size)
    for offset, length in [(0, 10), (43, 3), (44, 1), (45, 2), (1001, 777), (size - 5, 100)]:
        assert body(offset, length) == whole[offset : offset + length]


def test_generated_file_streams_the_body() -> None:
    body, size = ramp_wav(0.5)
    assert GeneratedFile(body, size).read() == body(0, size)


def test_encoders_produce_decodable_audio() -> None:
    for container, codec, rate in [("mp3", "libmp3lame", 16000), ("webm", "libopus", 48000), ("mp4", "aac", 44100)]:
        tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate).astype(np.float32)
        decoded = full_decode_16k(encode(tone, rate, container, codec))
        rms = float(np.sqrt(np.mean(decoded[4000:12000] ** 2)))
        assert abs(len(decoded) - 16000) < 800 and abs(rms - 0.5 / np.sqrt(2)) < 0.03, (codec, rms)


def test_best_lag_finds_a_known_shift() -> None:
    noise = np.random.default_rng(7).standard_normal(20000).astype(np.float32)
    lag, score = best_lag(noise[1000:9000], noise, 1003)
    assert lag == -3 and score > 0.999
