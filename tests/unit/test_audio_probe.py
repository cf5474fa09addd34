"""probe() on every committed clip, on bad input of each kind, and on big files where it must stay header-only."""

from __future__ import annotations

import functools
import io
import json
import struct

import numpy as np
import pytest
from azure.core.exceptions import ServiceRequestError

from shared.audio.blob_reader import BlobRangeReader
from shared.audio.probe import probe
from shared.contracts import AudioInfo
from shared.errors import ErrorCode, PermanentError, TransientError
from tests.unit.test_audio_fakes import (
    DATA,
    FakeBlob,
    encode,
    png_image,
    ramp_wav,
    speech_16k,
    speech_encoded,
    video_only_mp4,
    wav_bytes,
)

EXPECTED = json.loads((DATA / "clips.json").read_text())

# clip -> (format, codec, sample_rate, channels, decoder)
CLIPS = {
    "speech_16k_mono.wav": ("wav", "pcm_s16le", 16000, 1, "soundfile"),
    "speech_44k_stereo.flac": ("flac", "flac", 44100, 2, "soundfile"),
    "speech.mp3": ("mp3", "mp3", 22050, 1, "av"),
    "speech.m4a": ("mp4", "aac", 44100, 1, "av"),
    # FFmpeg, not libsndfile, for Ogg (libsndfile mistimes damaged Ogg: shared/audio/probe.py); Opus decodes at 48 kHz.
    "speech.opus": ("ogg", "opus", 48000, 1, "av"),
    "long.flac": ("flac", "flac", 16000, 1, "soundfile"),
    "silence.wav": ("wav", "pcm_s16le", 16000, 1, "soundfile"),
}


def _probe_bytes(data: bytes, name: str = "upload.bin") -> AudioInfo:
    return probe(io.BytesIO(data), name)


def _code(data: bytes, name: str = "upload.bin") -> ErrorCode:
    with pytest.raises(PermanentError) as caught:
        _probe_bytes(data, name)
    return caught.value.code


@pytest.mark.parametrize("clip", sorted(CLIPS))
def test_committed_clip(clip: str) -> None:
    with (DATA / clip).open("rb") as f:
        info = probe(f, clip)
    fmt, codec, rate, channels, decoder = CLIPS[clip]
    assert (info.format, info.codec, info.sample_rate, info.channels, info.decoder) == (
        fmt,
        codec,
        rate,
        channels,
        decoder,
    )
    assert info.duration_s == pytest.approx(EXPECTED[clip]["duration_s"], abs=0.1)


def test_every_rendition_of_the_passage_has_the_same_duration() -> None:
    reference = len(speech_16k()) / 16000
    for clip in ("speech_44k_stereo.flac", "speech.mp3", "speech.m4a", "speech.opus"):
        assert probe(io.BytesIO((DATA / clip).read_bytes()), clip).duration_s == pytest.approx(reference, abs=0.02)


def test_the_probe_result_is_the_contract_type() -> None:
    info = probe(io.BytesIO((DATA / "speech.mp3").read_bytes()), "speech.mp3")
    assert AudioInfo.model_validate_json(info.model_dump_json()) == info


# --- bad input: one code per kind, whatever the format ------------------------------------------------------------


@pytest.mark.parametrize(
    ("clip", "code"),
    [
        ("not_audio.wav", ErrorCode.CORRUPT_AUDIO),
        ("empty.wav", ErrorCode.EMPTY_AUDIO),
        ("truncated.flac", ErrorCode.CORRUPT_AUDIO),
    ],
)
def test_committed_bad_input(clip: str, code: ErrorCode) -> None:
    assert _code((DATA / clip).read_bytes(), clip) == code


def test_error_details_name_the_file() -> None:
    with pytest.raises(PermanentError, match=r"not_audio\.wav") as caught:
        _probe_bytes((DATA / "not_audio.wav").read_bytes(), "not_audio.wav")
    assert caught.value.to_problem()["code"] == "corrupt_audio"


def test_random_bytes_are_corrupt() -> None:
    noise = np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    assert _code(noise, "noise.mp3") == ErrorCode.CORRUPT_AUDIO


def test_subtitles_are_corrupt_audio_not_a_format() -> None:
    srt = b"1\n00:00:01,000 --> 00:00:02,000\nHello there\n\n2\n00:00:03,000 --> 00:00:04,000\nBye\n"
    assert _code(srt, "talk.wav") == ErrorCode.CORRUPT_AUDIO


def test_video_without_audio_is_unsupported() -> None:
    assert _code(video_only_mp4(), "clip.mp4") == ErrorCode.UNSUPPORTED_FORMAT


def test_an_image_is_unsupported() -> None:
    assert _code(png_image(), "cover.m4a") == ErrorCode.UNSUPPORTED_FORMAT


def test_a_wav_with_no_samples_is_empty() -> None:
    assert _code(wav_bytes(np.zeros(0, np.float32), 16000), "empty.wav") == ErrorCode.EMPTY_AUDIO


def test_a_compressed_file_with_no_samples_is_empty() -> None:
    assert _code(encode(np.zeros(0, np.float32), 16000, "mp4", "aac"), "empty.m4a") == ErrorCode.EMPTY_AUDIO


def test_a_truncated_wav_is_corrupt_not_shorter() -> None:
    """A WAV cut short (an upload that lost its end): libsndfile reads what is there, but the data chunk says how
    much there should be. Transcribing 5 s of a 22 s recording as if it were all of it would lose the rest
    silently, so it fails, saying how much is missing."""
    data = (DATA / "speech_16k_mono.wav").read_bytes()
    with pytest.raises(PermanentError) as caught:
        _probe_bytes(data[: 44 + 32000 * 5], "cut.wav")
    assert caught.value.code is ErrorCode.CORRUPT_AUDIO
    assert "holds 5.0 s of the 22.0 s" in caught.value.detail


def _with_header(data: bytes, **fields: int) -> bytes:
    """The canonical 44-byte WAV header with some fields replaced (offsets of the RIFF/fmt/data layout)."""
    offsets = {"channels": (22, "<H"), "rate": (24, "<I"), "byte_rate": (28, "<I"), "data_size": (40, "<I")}
    out = bytearray(data)
    for name, value in fields.items():
        offset, fmt = offsets[name]
        struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def test_a_streamed_wav_with_an_open_length_is_read_to_its_end() -> None:
    """Recorders that cannot seek back leave 0xFFFFFFFF as the data size: that is not truncation."""
    data = (DATA / "speech_16k_mono.wav").read_bytes()
    info = _probe_bytes(_with_header(data, data_size=0xFFFFFFFF), "stream.wav")
    assert info.duration_s == pytest.approx(22.007, abs=0.01)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"rate": 1, "byte_rate": 2}, "1 Hz: 352,112 samples would be 98 hours"),
        ({"rate": 999, "byte_rate": 1998}, "just under telephony"),
        ({"rate": 2_000_000, "byte_rate": 4_000_000}, "2 MHz"),
    ],
)
def test_a_header_that_cannot_be_true_is_refused_before_it_costs_gpu_time(fields: dict, why: str) -> None:
    data = (DATA / "speech_16k_mono.wav").read_bytes()
    with pytest.raises(PermanentError) as caught:
        _probe_bytes(_with_header(data, **fields), "odd.wav")
    assert caught.value.code is ErrorCode.CORRUPT_AUDIO, why
    assert "sample rate" in caught.value.detail


@pytest.mark.parametrize("rate", [1000, 8000, 768_000])
def test_real_rates_at_the_edges_are_accepted(rate: int) -> None:
    data = (DATA / "speech_16k_mono.wav").read_bytes()
    info = _probe_bytes(_with_header(data, rate=rate, byte_rate=rate * 2), "edge.wav")
    assert info.sample_rate == rate


# --- formats the committed clips don't cover ----------------------------------------------------------------------


@functools.cache
def _tone(rate: int, seconds: float = 10.0) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)


def test_webm_opus() -> None:
    info = _probe_bytes(encode(_tone(48000), 48000, "webm", "libopus"), "talk.webm")
    assert (info.format, info.codec, info.sample_rate, info.decoder) == ("webm", "opus", 48000, "av")
    assert info.duration_s == pytest.approx(10.0, abs=0.05)


def test_webm_without_a_duration_header_is_measured_from_its_packets() -> None:
    """Browsers' MediaRecorder writes WebM to a stream, so no duration: the one non-header-only probe."""
    data = encode(_tone(48000), 48000, "webm", "libopus", seekable=False)
    assert _probe_bytes(data, "recording.webm").duration_s == pytest.approx(10.0, abs=0.05)


def test_mp3_without_a_xing_header_is_estimated_from_the_bitrate() -> None:
    data = encode(_tone(16000), 16000, "mp3", "libmp3lame", bit_rate=32000, container_options={"write_xing": "0"})
    info = _probe_bytes(data, "old.mp3")
    assert (info.format, info.codec, info.decoder) == ("mp3", "mp3", "av")
    assert info.duration_s == pytest.approx(10.0, abs=0.2)


def test_ogg_vorbis_goes_to_ffmpeg() -> None:
    info = _probe_bytes(wav_bytes(_tone(44100), 44100, fmt="OGG", subtype="VORBIS"), "a.ogg")
    assert (info.format, info.codec, info.decoder) == ("ogg", "vorbis", "av")  # libsndfile mistimes damaged Ogg
    assert info.duration_s == pytest.approx(10.0, abs=0.01)


def test_wav_holding_a_compressed_codec_goes_to_ffmpeg() -> None:
    data = encode(_tone(16000), 16000, "wav", "pcm_mulaw")
    assert _probe_bytes(data, "phone.wav").codec == "pcm_mulaw"  # libsndfile reads μ-law itself
    data = encode(_tone(22050), 22050, "wav", "libmp3lame")
    info = _probe_bytes(data, "odd.wav")
    assert (info.format, info.codec, info.decoder) == ("wav", "mp3", "av")


def test_adts_aac() -> None:
    info = _probe_bytes(encode(_tone(44100), 44100, "adts", "aac", bit_rate=64000), "voice.aac")
    assert (info.format, info.codec, info.decoder) == ("aac", "aac", "av")
    assert info.duration_s == pytest.approx(10.0, abs=0.5)  # ADTS has no duration: FFmpeg estimates it


# --- header-only: measured with the reader's counters ---------------------------------------------------------------


def test_a_2_gib_wav_is_probed_with_one_range_read() -> None:
    body, size = ramp_wav(67_000.0)  # 18.6 hours, 2.14 GB, generated per range
    reader = BlobRangeReader(FakeBlob(body, size), size)
    info = probe(reader, "meeting.wav")
    assert info.duration_s == pytest.approx(67_000.0) and info.decoder == "soundfile"
    assert reader.requests <= 2 and reader.bytes_fetched <= 2 * reader.chunk_size


@pytest.mark.parametrize("kind", ["flac", "ogg", "mp3", "m4a", "webm"])
def test_what_the_probe_reads_does_not_grow_with_the_file(kind: str) -> None:
    fetched = []
    for repeats in (1, 3):
        data = speech_encoded(kind, repeats)
        reader = BlobRangeReader(FakeBlob(data), len(data), chunk_size=16 * 1024, max_chunks=4)
        info = probe(reader, f"talk.{kind}")
        assert info.duration_s == pytest.approx(repeats * len(speech_16k()) / 16000, abs=0.1)
        fetched.append(reader.bytes_fetched)
    assert fetched[1] <= fetched[0] + 32 * 1024 and fetched[1] <= 192 * 1024, fetched


# --- storage trouble is never reclassified as bad audio -------------------------------------------------------------


@pytest.mark.parametrize("clip", ["speech_44k_stereo.flac", "speech.m4a"])
@pytest.mark.parametrize("fail_after", [0, 1])
def test_a_storage_failure_during_the_probe_is_transient(clip: str, fail_after: int) -> None:
    data = (DATA / clip).read_bytes()
    blob = FakeBlob(data)
    blob.fail_after, blob.fail_with = fail_after, ServiceRequestError("connection reset")
    reader = BlobRangeReader(blob, len(data), chunk_size=4096, max_chunks=1)
    with pytest.raises(TransientError):
        probe(reader, clip)
