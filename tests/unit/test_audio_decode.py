"""read_window(): shape, range and length of windows, sample alignment for every format, seams between adjacent
windows, the file's end, bad windows, truncated data, downmixing, and O(window) I/O and memory on a huge file."""

from __future__ import annotations

import io
import math
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
from azure.core.exceptions import ServiceRequestError
from shared.audio.pcm import SAMPLE_RATE

from shared.audio.blob_reader import BlobRangeReader
from shared.audio.decode import read_window
from shared.audio.probe import probe
from shared.contracts import AudioInfo
from shared.errors import ErrorCode, PermanentError, TransientError
from tests.unit.test_audio_fakes import (
    DATA,
    RAMP_PERIOD,
    FakeBlob,
    best_lag,
    clicks,
    encode,
    full_decode_16k,
    ramp_value,
    ramp_wav,
    speech_16k,
    speech_encoded,
    wav_bytes,
)

SPEECH = ["speech_16k_mono.wav", "speech_44k_stereo.flac", "speech.mp3", "speech.m4a", "speech.opus"]


def _open(clip: str) -> tuple[io.BytesIO, AudioInfo]:
    f = io.BytesIO((DATA / clip).read_bytes())
    return f, probe(f, clip)


def _window(data: bytes, start_s: float, end_s: float, name: str = "x") -> np.ndarray:
    f = io.BytesIO(data)
    return read_window(f, probe(f, name), start_s, end_s)


@pytest.mark.parametrize("clip", [*SPEECH, "long.flac"])
def test_a_window_is_16k_mono_float32_in_range(clip: str) -> None:
    f, info = _open(clip)
    window = read_window(f, info, 5.0, 10.0)
    assert window.dtype == np.float32 and window.ndim == 1 and window.flags.c_contiguous
    assert len(window) == 5 * SAMPLE_RATE
    assert np.abs(window).max() <= 1.0 and np.sqrt(np.mean(window**2)) > 0.01


@pytest.mark.parametrize("clip", SPEECH)
@pytest.mark.parametrize(("start_s", "end_s"), [(0.0, 3.0), (7.3, 12.3), (15.55531, 20.0)])
def test_every_format_lines_up_with_the_reference(clip: str, start_s: float, end_s: float) -> None:
    """The window's first sample is the reference's sample at start_s (codecs' delays are compensated)."""
    f, info = _open(clip)
    window = read_window(f, info, start_s, end_s)
    n0, n1 = round(start_s * SAMPLE_RATE), round(end_s * SAMPLE_RATE)
    assert len(window) == n1 - n0
    lag, score = best_lag(window, speech_16k(), n0)
    assert abs(lag) <= 2 and score > 0.9, (lag, score)  # observed: 0 (Opus via libsndfile: -1); allowed ±10 ms


def test_a_16k_pcm_window_is_the_file_s_samples() -> None:
    f, info = _open("speech_16k_mono.wav")
    assert np.array_equal(read_window(f, info, 3.25, 4.5), speech_16k()[52000:72000])


@pytest.mark.parametrize("clip", ["speech_44k_stereo.flac", "speech.opus", "speech.mp3"])
def test_adjacent_windows_tile_the_whole_exactly(clip: str) -> None:
    """No sample lost or repeated at a seam, and no resampler or decoder transient there either."""
    f, info = _open(clip)
    whole = read_window(f, info, 2.0, 17.0)
    parts = np.concatenate([read_window(f, info, s, s + 5.0) for s in (2.0, 7.0, 12.0)])
    assert np.array_equal(whole, parts)


def test_adjacent_aac_windows_tile_up_to_noise_substitution() -> None:
    """AAC's perceptual noise substitution draws from a decoder RNG whose state depends on where decoding began:
    the noise bands differ after a seek, the timing does not."""
    f, info = _open("speech.m4a")
    whole = read_window(f, info, 2.0, 17.0)
    parts = np.concatenate([read_window(f, info, s, s + 5.0) for s in (2.0, 7.0, 12.0)])
    assert len(whole) == len(parts)
    assert np.linalg.norm(whole - parts) / np.linalg.norm(whole) < 0.1
    assert best_lag(parts[160000:], whole, 160000, max_lag=20)[0] == 0


@pytest.mark.parametrize("rate", [44100, 48000, 22050, 11025, 16000])
def test_clicks_land_on_their_sample(rate: int) -> None:
    """A one-sample click at time t must peak at round((t - start) * 16000) in a window starting anywhere."""
    times = [1.0, 2.3456, 3.00007, 4.9999]
    data = wav_bytes(clicks(6.0, rate, times, channels=2), rate, subtype="FLOAT")
    for start in (0.0, 0.7771, 2.2):
        window = _window(data, start, 5.5)
        for t in times:
            if t <= start + 0.01:
                continue
            expected = round((round(t * rate) / rate - start) * SAMPLE_RATE)
            near = window[max(0, expected - 80) : expected + 80]
            assert abs(int(np.argmax(near)) + max(0, expected - 80) - expected) <= 1, (rate, start, t)


@pytest.mark.parametrize(
    ("container", "codec", "rate", "options"),
    [
        ("mp3", "libmp3lame", 22050, {"container_options": {"write_xing": "0"}, "bit_rate": 64000}),
        ("mp3", "libmp3lame", 16000, {"codec_options": {"q": "2"}}),  # VBR
        ("adts", "aac", 44100, {"bit_rate": 64000}),
        ("webm", "libopus", 48000, {"seekable": False}),  # no duration, no cues, 1 ms timestamps
    ],
)
def test_ffmpeg_windows_are_slices_of_a_full_decode(container: str, codec: str, rate: int, options: dict) -> None:
    """Without delay metadata (MP3 with no Xing/LAME header, ADTS) no decoder can know the encoder's delay; what
    matters is that a window decoded after a seek is the same slice of the file as in a decode from the start."""
    x = speech_16k()
    resampled = np.interp(np.arange(round(len(x) * rate / 16000)) * 16000 / rate, np.arange(len(x)), x)
    data = encode(resampled.astype(np.float32), rate, container, codec, **options)
    full = full_decode_16k(data)
    f = io.BytesIO(data)
    info = probe(f, f"x.{container}")
    for start in (1.0, 9.87, 17.5):
        window = read_window(f, info, start, start + 3.0)
        n0 = round(start * SAMPLE_RATE)
        lag, score = best_lag(window, full, n0, max_lag=400)
        tolerance = 8 if container == "webm" else 1  # WebM rounds timestamps to the millisecond
        assert abs(lag) <= tolerance and score > 0.95, (start, lag, score)


def test_windows_past_the_end() -> None:
    f, info = _open("speech_16k_mono.wav")
    total = round(info.duration_s * SAMPLE_RATE)
    assert len(read_window(f, info, 21.0, 30.0)) == total - 21 * SAMPLE_RATE
    assert len(read_window(f, info, 30.0, 35.0)) == 0
    f, info = _open("speech_44k_stereo.flac")
    assert len(read_window(f, info, 21.0, 30.0)) == math.floor(info.duration_s * SAMPLE_RATE) - 21 * SAMPLE_RATE
    f, info = _open("speech.mp3")
    assert abs(len(read_window(f, info, 21.0, 30.0)) - (info.duration_s - 21.0) * SAMPLE_RATE) < 2
    assert len(read_window(f, info, 30.0, 35.0)) == 0


@pytest.mark.parametrize(("start_s", "end_s"), [(-1.0, 2.0), (5.0, 5.0), (5.0, 4.0), (math.nan, 1.0), (0, math.inf)])
def test_bad_windows_are_refused(start_s: float, end_s: float) -> None:
    f, info = _open("silence.wav")
    with pytest.raises(ValueError, match="invalid window"):
        read_window(f, info, start_s, end_s)


def test_an_unknown_decoder_is_refused() -> None:
    f, info = _open("silence.wav")
    with pytest.raises(ValueError, match="decoder"):
        read_window(f, info.model_copy(update={"decoder": "ffmpeg-cli"}), 0.0, 1.0)


def test_silence_decodes_to_zeros() -> None:
    f, info = _open("silence.wav")
    window = read_window(f, info, 0.5, 1.5)
    assert len(window) == SAMPLE_RATE and not window.any()


def test_a_window_past_a_truncation_is_corrupt() -> None:
    """The probe refuses truncated.flac; a worker given such a file anyway fails with a code, not garbage."""
    data = (DATA / "truncated.flac").read_bytes()
    header = sf.info(io.BytesIO(data))
    info = AudioInfo(
        format="flac", codec="flac", duration_s=header.duration, sample_rate=44100, channels=2, decoder="soundfile"
    )
    assert len(read_window(io.BytesIO(data), info, 1.0, 3.0)) == 2 * SAMPLE_RATE
    with pytest.raises(PermanentError) as caught:
        read_window(io.BytesIO(data), info, 15.0, 17.0)
    assert caught.value.code == ErrorCode.CORRUPT_AUDIO


def test_damaged_packets_become_silence_and_keep_the_timing() -> None:
    """MP4 timestamps come from the sample table, so packets that fail to decode leave a hole of the right length."""
    data = bytearray((DATA / "speech.m4a").read_bytes())
    info = probe(io.BytesIO(bytes(data)), "speech.m4a")
    at = len(data) * 10 // 22  # about 10 s in
    data[at : at + 1500] = np.random.default_rng(0).integers(0, 256, 1500, dtype=np.uint8).tobytes()
    window = read_window(io.BytesIO(bytes(data)), info, 8.0, 16.0)
    assert len(window) == 8 * SAMPLE_RATE
    for offset_s in (0.0, 4.0):  # before and after the damage
        n = round(offset_s * SAMPLE_RATE)
        lag, score = best_lag(window[n : n + 2 * SAMPLE_RATE], speech_16k(), round((8.0 + offset_s) * SAMPLE_RATE))
        assert lag == 0 and score > 0.85


def test_channels_are_averaged() -> None:
    x = 0.8 * np.sin(2 * np.pi * 200 * np.arange(32000) / 16000)
    stereo = np.stack([x, np.zeros_like(x)], axis=1)
    window = _window(wav_bytes(stereo, 16000, subtype="FLOAT"), 0.0, 2.0)
    assert np.allclose(window, 0.5 * x, atol=1e-6)


@pytest.mark.parametrize("rate", [44100, 16000])
def test_full_scale_stereo_stays_in_range(rate: int) -> None:
    square = np.where(np.sin(2 * np.pi * 300 * np.arange(rate) / rate) >= 0, 1.0, -1.0)
    data = wav_bytes(np.stack([square, square], axis=1), rate, subtype="FLOAT")
    window = _window(data, 0.1, 0.9)
    assert np.abs(window).max() <= 1.0 and np.abs(window).max() > 0.99
    m4a = encode(np.stack([square, square], axis=1).astype(np.float32), 44100, "mp4", "aac")
    assert np.abs(_window(m4a, 0.1, 0.9)).max() <= 1.0


# --- O(window): what a window from a huge file costs ---------------------------------------------------------------


def test_a_window_deep_in_a_2_gib_wav_reads_one_chunk_and_is_exact() -> None:
    body, size = ramp_wav(67_000.0)
    reader = BlobRangeReader(FakeBlob(body, size), size, chunk_size=256 * 1024)
    info = probe(reader, "meeting.wav")
    before_requests, before_bytes = reader.requests, reader.bytes_fetched
    tracemalloc.start()
    try:
        window = read_window(reader, info, 40_000.123, 40_005.123)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    n0 = round(40_000.123 * SAMPLE_RATE)
    expected = ramp_value(np.arange(n0, n0 + 5 * SAMPLE_RATE)) / 32768.0
    assert np.array_equal(window, expected.astype(np.float32))
    assert reader.requests - before_requests <= 2
    assert reader.bytes_fetched - before_bytes <= 2 * reader.chunk_size
    assert peak < 4 * 1024 * 1024, peak  # the chunk cache (1 MiB), the window, the fake's temporaries


def _window_cost(data: bytes, kind: str, start_s: float) -> tuple[int, np.ndarray]:
    """Bytes fetched by one window (after the probe), with a cache small enough to show what is read."""
    reader = BlobRangeReader(FakeBlob(data), len(data), chunk_size=64 * 1024, max_chunks=4)
    info = probe(reader, f"talk.{kind}")
    before = reader.bytes_fetched
    window = read_window(reader, info, start_s, start_s + 5.0)
    return reader.bytes_fetched - before, window


@pytest.mark.parametrize("kind", ["flac", "ogg", "m4a", "webm"])
def test_what_a_window_reads_does_not_grow_with_its_position(kind: str) -> None:
    """Seek indexes (FLAC seek table/frame search, Ogg bisection, MP4 sample table, WebM cues) jump to the window."""
    data = speech_encoded(kind, 3)  # 66 s
    reference = np.tile(speech_16k(), 3)
    costs = []
    for start_s in (8.0, 55.0):
        cost, window = _window_cost(data, kind, start_s)
        lag, _ = best_lag(window, reference, round(start_s * SAMPLE_RATE), max_lag=20)
        assert abs(lag) <= (8 if kind == "webm" else 1)
        costs.append(cost)
    assert costs[1] <= costs[0] + 64 * 1024 and costs[1] < 0.5 * len(data), (costs, len(data))


def test_an_mp3_window_scans_packet_headers_up_to_its_position() -> None:
    """FFmpeg seeks MP3 exactly only by demuxing (not decoding) from the start: I/O grows with the position.

    Its alternatives (the Xing TOC, or byte scaling with ``fflags=fastseek``) land hundreds of milliseconds off in
    VBR files, which would misplace every timestamp of the window; memory stays flat either way.
    """
    data = speech_encoded("mp3", 3)
    early, _ = _window_cost(data, "mp3", 8.0)
    late, window = _window_cost(data, "mp3", 55.0)
    assert best_lag(window, np.tile(speech_16k(), 3), 55 * SAMPLE_RATE, max_lag=20)[0] == 0
    assert late > early and late <= 61 / 66 * len(data) + 128 * 1024


def test_ramp_period_spans_windows() -> None:
    assert RAMP_PERIOD > 1.5 * SAMPLE_RATE  # a 5 s window sees the ramp wrap, so an off-by-one cannot hide


# --- storage trouble mid-decode -------------------------------------------------------------------------------------


@pytest.mark.parametrize("clip", ["speech_44k_stereo.flac", "speech_16k_mono.wav", "speech.m4a", "speech.opus"])
def test_a_storage_failure_mid_window_is_transient(clip: str) -> None:
    data = (DATA / clip).read_bytes()
    blob = FakeBlob(data)
    reader = BlobRangeReader(blob, len(data), chunk_size=4096, max_chunks=2)
    info = probe(reader, clip)
    blob.fail_after, blob.fail_with = len(blob.calls) + 2, ServiceRequestError("connection reset")
    with pytest.raises(TransientError):
        read_window(reader, info, 5.0, 15.0)
