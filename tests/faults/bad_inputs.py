"""The bad-input catalogue's files, made by the tests themselves from the committed clips or from nothing.

Every maker writes one file into a folder it is given and returns its path: nothing here is committed, so the
catalogue can hold a 10-hour recording or a 10 MB tag without growing the repository. Damage is seeded, so a
failure reproduces byte for byte.

Each :class:`AudioCase` says what the service must make of its file: either a final error code, or a completed
job with (or without) words. ``tests/faults/test_bad_inputs.py`` sends them all through the real stack.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf

DATA = Path(__file__).resolve().parent.parent / "data"
SPEECH_WAV = DATA / "speech_16k_mono.wav"
SEED = 14


@dataclass(frozen=True)
class AudioCase:
    """One file of the catalogue and what must become of it."""

    name: str
    filename: str  # the name it is uploaded under
    make: Callable[[Path], Path]
    code: str | None  # the job's final error code; None: the job completes
    words: bool = False  # for a completed job: whether the transcript must hold the passage's words
    why: str = ""


# --- WAV headers ------------------------------------------------------------------------------------------------------


def _speech_wav() -> bytearray:
    return bytearray(SPEECH_WAV.read_bytes())


def _write(folder: Path, name: str, data: bytes | bytearray) -> Path:
    path = folder / name
    path.write_bytes(bytes(data))
    return path


def _data_chunk(wav: bytes | bytearray) -> int:
    """Offset of the ``data`` chunk's header in a canonical RIFF/WAVE file."""
    offset = 12
    while wav[offset : offset + 4] != b"data":
        (size,) = struct.unpack_from("<I", wav, offset + 4)
        offset += 8 + size + (size & 1)
    return offset


def zero_length(folder: Path) -> Path:
    return _write(folder, "zero.wav", b"")


def text_named_wav(folder: Path) -> Path:
    return _write(folder, "notes.wav", b"Minutes of the garden club, 14 March.\nApologies: none.\n" * 20)


def truncated_wav(folder: Path) -> Path:
    """The first 40 % of the passage: the header still declares all 22 s (an upload that lost its end)."""
    wav = _speech_wav()
    return _write(folder, "truncated.wav", wav[: len(wav) * 2 // 5])


def header_claims_more(folder: Path) -> Path:
    """Every byte present, but the ``data`` chunk (and RIFF size) claims ten times as much."""
    wav = _speech_wav()
    at = _data_chunk(wav)
    (size,) = struct.unpack_from("<I", wav, at + 4)
    struct.pack_into("<I", wav, at + 4, size * 10)
    struct.pack_into("<I", wav, 4, len(wav) - 8 + size * 9)
    return _write(folder, "claims_more.wav", wav)


def header_only_wav(folder: Path) -> Path:
    path = folder / "header_only.wav"
    sf.write(path, np.zeros(0, np.int16), 16000, subtype="PCM_16")
    return path


def _fmt_field(name: str, offset: int, fmt: str, value: int) -> Callable[[Path], Path]:
    """The passage with one ``fmt `` field rewritten (offsets of the canonical 44-byte header)."""

    def make(folder: Path) -> Path:
        wav = _speech_wav()
        struct.pack_into(fmt, wav, offset, value)
        return _write(folder, name, wav)

    return make


zero_channels = _fmt_field("zero_channels.wav", 22, "<H", 0)
rate_zero = _fmt_field("rate_0.wav", 24, "<I", 0)
rate_one = _fmt_field("rate_1.wav", 24, "<I", 1)  # 98 hours of "audio" if believed
rate_four_ghz = _fmt_field("rate_4ghz.wav", 24, "<I", 4_000_000_000)


def eight_channels(folder: Path) -> Path:
    """The passage on channel 3 of 8, the rest digital silence (a mixing desk's multitrack export): the
    channels are averaged, so the speech arrives 18 dB down and must still be heard."""
    speech, rate = sf.read(SPEECH_WAV, dtype="int16")
    frames = np.zeros((len(speech), 8), np.int16)
    frames[:, 2] = speech
    path = folder / "eight_channels.wav"
    sf.write(path, frames, rate, subtype="PCM_16")
    return path


def eight_channels_same(folder: Path) -> Path:
    """The passage on all 8 channels of a FLAC (WAVE_FORMAT_EXTENSIBLE's 7.1 layout in WAV terms)."""
    speech, rate = sf.read(SPEECH_WAV, dtype="int16")
    path = folder / "eight_channels.flac"
    sf.write(path, np.repeat(speech[:, None], 8, axis=1), rate, format="FLAC", subtype="PCM_16")
    return path


# --- damaged compressed streams ---------------------------------------------------------------------------------------


def corrupt_middle(source: str, name: str, length: int = 4096) -> Callable[[Path], Path]:
    """``source`` with ``length`` seeded random bytes written over its middle: frames damaged mid-file, the headers
    and both ends intact (what a bad disk sector or a broken transfer leaves)."""

    def make(folder: Path) -> Path:
        data = bytearray((DATA / source).read_bytes())
        at = len(data) // 2
        data[at : at + length] = random.Random(SEED).randbytes(length)
        return _write(folder, name, data)

    return make


# --- silence ----------------------------------------------------------------------------------------------------------


def silence_only(folder: Path) -> Path:
    """40 s of digital silence, 16 kHz mono PCM."""
    path = folder / "silence.wav"
    sf.write(path, np.zeros(40 * 16000, np.int16), 16000, subtype="PCM_16")
    return path


def faint_noise(folder: Path) -> Path:
    """40 s of dithering-level noise (+-2 LSB, about -84 dBFS): not digital zeros, still nothing to hear."""
    rng = np.random.default_rng(SEED)
    path = folder / "faint_noise.wav"
    sf.write(path, rng.integers(-2, 3, 40 * 16000).astype(np.int16), 16000, subtype="PCM_16")
    return path


TEN_HOURS_S = 10 * 3600


def ten_hours_of_silence(folder: Path, seconds: int = TEN_HOURS_S) -> Path:
    """10 hours of digital silence as FLAC, 16 kHz mono: FLAC stores a constant block in a few bytes, so the file
    is small (~1.5 MB) while its headers declare 576 million samples. Written a minute at a time."""
    path = folder / "ten_hours_of_silence.flac"
    minute = np.zeros(60 * 16000, np.int16)
    with sf.SoundFile(path, "w", samplerate=16000, channels=1, format="FLAC", subtype="PCM_16") as out:
        for _ in range(seconds // 60):
            out.write(minute)
    return path


# --- polyglots and metadata -------------------------------------------------------------------------------------------


def _zip_bytes(extra: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("readme.txt", "this archive is also a recording\n" + extra.decode())
    return buffer.getvalue()


def zip_that_is_a_wav(folder: Path) -> Path:
    """The passage's WAV with a ZIP archive appended: ``unzip`` finds the archive (its directory is at the end),
    a WAV reader the audio (the ``data`` chunk says where it stops). Valid audio: it is transcribed."""
    wav = bytes(_speech_wav())
    data = wav + _zip_bytes()
    assert zipfile.is_zipfile(io.BytesIO(data))
    return _write(folder, "polyglot.wav", data)


def zip_named_wav(folder: Path) -> Path:
    """A plain ZIP archive (holding a WAV) named ``.wav``: not audio."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(SPEECH_WAV, "speech.wav")
    return _write(folder, "archive.wav", buffer.getvalue())


def _id3v2_size(n: int) -> bytes:
    """ID3v2 "synchsafe" integer: 7 bits per byte."""
    return bytes((n >> shift) & 0x7F for shift in (21, 14, 7, 0))


def _id3_frame(frame_id: bytes, body: bytes) -> bytes:
    return frame_id + _id3v2_size(len(body)) + b"\0\0" + body  # ID3v2.4 frame sizes are synchsafe too


def _png(width: int = 64, height: int = 64) -> bytes:
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    rows = b"".join(b"\0" + bytes([x % 256, y % 256, 128]) * width for y in range(height) for x in [y])
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _mp3_audio() -> bytes:
    """speech.mp3 from its first MPEG frame on (its own ID3 tag, if any, dropped)."""
    data = (DATA / "speech.mp3").read_bytes()
    if data[:3] == b"ID3":
        size = sum(b << (7 * (3 - i)) for i, b in enumerate(data[6:10]))
        data = data[10 + size :]
    return data


def mp3_with_huge_id3(folder: Path, tag_bytes: int = 10 * 1024 * 1024) -> Path:
    """An ID3v2.4 tag of 10 MB in front of the MPEG frames: a comment frame full of text, and cover art, as
    tagging tools write them. Everything before the audio is a tag the decoder must skip."""
    art = _id3_frame(b"APIC", b"\0image/png\0\x03cover\0" + _png())
    title = _id3_frame(b"TIT2", b"\x03Garden club minutes")
    pad = tag_bytes - len(art) - len(title) - 10
    comment = _id3_frame(b"COMM", b"\x03eng\0" + b"x" * (pad - 10 - 5))
    body = title + art + comment
    header = b"ID3\x04\x00\x00" + _id3v2_size(len(body))
    return _write(folder, "huge_tag.mp3", header + body + _mp3_audio())


def flac_with_cover_art(folder: Path, art_bytes: int = 4 * 1024 * 1024) -> Path:
    """The passage's FLAC with a 4 MB PICTURE metadata block (front cover) before its audio frames."""
    data = bytearray((DATA / "speech_44k_stereo.flac").read_bytes())
    assert data[:4] == b"fLaC"
    offset, last = 4, False
    while not last:  # walk the metadata blocks to the last one, and clear its "last" flag
        header = data[offset]
        last = bool(header & 0x80)
        length = int.from_bytes(data[offset + 1 : offset + 4], "big")
        if last:
            data[offset] = header & 0x7F
        offset += 4 + length
    image = _png() + bytes(art_bytes - len(_png()))
    mime, description = b"image/png", b"front cover"
    picture = struct.pack(">II", 3, len(mime)) + mime + struct.pack(">I", len(description)) + description
    picture += struct.pack(">IIIII", 64, 64, 24, 0, len(image)) + image
    block = bytes([0x80 | 6]) + len(picture).to_bytes(3, "big") + picture
    return _write(folder, "cover_art.flac", data[:offset] + block + data[offset:])


# --- headers that lie, streams that hide the speech (issue 22) ------------------------------------------------------


def xing_frame_count_at(mp3: bytes | bytearray) -> int:
    """Offset of the frame count in the Xing (VBR) or Info (CBR) tag of an MP3's first frame."""
    for tag in (b"Xing", b"Info"):
        at = bytes(mp3[:4096]).find(tag)
        if at >= 0:
            (flags,) = struct.unpack_from(">I", mp3, at + 4)
            assert flags & 1, "the tag has no frame count"
            return at + 8
    raise AssertionError("no Xing/Info tag in the first frame")


def lying_mp3(frames: int, name: str = "lying.mp3") -> Callable[[Path], Path]:
    """speech.mp3 (22 s, 22.05 kHz: 576 samples a frame) whose Xing/Info tag declares ``frames`` frames: 0x00FFFFFF
    declares 438,262 s, 0xFFFFFFFF 112 million s (issue 22: a probe believed such a count and planned 1,008 windows)."""

    def make(folder: Path) -> Path:
        data = bytearray(_mp3_audio())
        struct.pack_into(">I", data, xing_frame_count_at(data), frames)
        return _write(folder, name, data)

    return make


def speech_at_peak(dbfs: float, name: str = "quiet.wav") -> Callable[[Path], Path]:
    """The passage with its peak at ``dbfs`` as 16-bit PCM, what ``sox speech.wav quiet.wav gain -n -60`` writes
    (at -60 dBFS the loudest sample is 33 steps)."""

    def make(folder: Path) -> Path:
        speech, rate = sf.read(SPEECH_WAV, dtype="float32")
        scaled = speech / np.abs(speech).max() * 10 ** (dbfs / 20)
        path = folder / name
        sf.write(path, np.round(scaled * 32767).astype(np.int16), rate, subtype="PCM_16")
        return path

    return make


def two_track_mp4(folder: Path, speech_track: int | None = 1, name: str = "two_tracks.mp4") -> Path:
    """An MP4 with two AAC tracks, the passage on ``speech_track`` (None: neither) and digital silence on the other
    (a camera's own muted microphone beside the lavalier's track); FFmpeg flags the first track as the default."""
    import av

    speech, rate = sf.read(SPEECH_WAV, dtype="float32")
    tracks = [np.zeros_like(speech), np.zeros_like(speech)]
    if speech_track is not None:
        tracks[speech_track] = speech
    path = folder / name
    with av.open(str(path), "w", format="mp4") as out:
        streams = [out.add_stream("aac", rate=rate, layout="mono") for _ in tracks]
        for stream in streams:
            stream.bit_rate = 32000
        size = streams[0].codec_context.frame_size or 1024
        for pos in range(0, len(speech), size):
            for stream, samples in zip(streams, tracks, strict=True):
                frame = av.AudioFrame.from_ndarray(samples[None, pos : pos + size].copy(), format="fltp", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = rate, pos, Fraction(1, rate)
                out.mux(stream.encode(frame))
        for stream in streams:
            out.mux(stream.encode(None))
    return path


def hiss(folder: Path) -> Path:
    """20 s of white noise at a -40 dBFS peak: not silent, and no words in it."""
    rng = np.random.default_rng(SEED)
    noise = rng.uniform(-1, 1, 20 * 16000) * 10 ** (-40 / 20)
    path = folder / "hiss.wav"
    sf.write(path, np.round(noise * 32767).astype(np.int16), 16000, subtype="PCM_16")
    return path


# --- the catalogue ----------------------------------------------------------------------------------------------------

AUDIO_CASES = [
    AudioCase("text_named_wav", "notes.wav", text_named_wav, "corrupt_audio", why="ASCII text is not audio"),
    AudioCase("truncated_wav", "meeting.wav", truncated_wav, "corrupt_audio", why="40 % of the declared data"),
    AudioCase("header_claims_more", "meeting.wav", header_claims_more, "corrupt_audio", why="data size x10"),
    AudioCase("header_only_wav", "meeting.wav", header_only_wav, "empty_audio", why="a valid WAV of 0 samples"),
    AudioCase("zero_channels", "meeting.wav", zero_channels, "corrupt_audio", why="fmt says 0 channels"),
    AudioCase("rate_0_hz", "meeting.wav", rate_zero, "corrupt_audio", why="fmt says 0 Hz"),
    AudioCase("rate_1_hz", "meeting.wav", rate_one, "corrupt_audio", why="1 Hz: 98 h of audio if believed"),
    AudioCase("rate_4_ghz", "meeting.wav", rate_four_ghz, "corrupt_audio", why="4 GHz"),
    AudioCase("eight_channels_wav", "desk.wav", eight_channels, None, words=True, why="speech on 1 of 8"),
    AudioCase("eight_channels_flac", "desk.flac", eight_channels_same, None, words=True, why="speech on all 8"),
    AudioCase(
        "flac_corrupt_mid",
        "talk.flac",
        corrupt_middle("speech_44k_stereo.flac", "corrupt.flac"),
        "corrupt_audio",
        why="libsndfile stops at a damaged FLAC frame: the rest of the file would be lost",
    ),
    AudioCase(
        "mp3_corrupt_mid",
        "talk.mp3",
        corrupt_middle("speech.mp3", "corrupt.mp3"),
        None,
        words=True,
        why="MPEG frames resync: the damaged ~0.7 s becomes silence or noise, the rest is heard",
    ),
    AudioCase(
        "m4a_corrupt_mid",
        "talk.m4a",
        corrupt_middle("speech.m4a", "corrupt.m4a"),
        None,
        words=True,
        why="AAC frames are independent: the damaged ones are dropped and filled with silence",
    ),
    AudioCase(
        "opus_corrupt_mid",
        "talk.opus",
        corrupt_middle("speech.opus", "corrupt.opus"),
        None,
        words=True,
        why="an Ogg page whose CRC fails is skipped; the stream goes on",
    ),
    AudioCase("silence_only", "quiet.wav", silence_only, None, why="40 s of digital zeros: no words"),
    AudioCase("faint_noise", "hiss.wav", faint_noise, None, why="40 s at -84 dBFS: no words"),
    AudioCase("ten_hours_of_silence", "night.flac", ten_hours_of_silence, None, why="fast, and no words"),
    AudioCase("zip_that_is_a_wav", "polyglot.wav", zip_that_is_a_wav, None, words=True, why="WAV + ZIP"),
    AudioCase("zip_named_wav", "archive.wav", zip_named_wav, "corrupt_audio", why="a ZIP is not audio"),
    AudioCase("mp3_10mb_id3_tag", "tagged.mp3", mp3_with_huge_id3, None, words=True, why="10 MB tag + cover art"),
    AudioCase("flac_cover_art", "cover.flac", flac_with_cover_art, None, words=True, why="4 MB PICTURE block"),
    AudioCase(
        "mp3_xing_claims_5_days",
        "talk.mp3",
        lying_mp3(0x00FFFFFF),
        None,
        words=True,
        why="a patched Xing frame count declares 438,262 s: the 22 s are measured and transcribed",
    ),
    AudioCase(
        "speech_at_minus_60_dbfs",
        "quiet.wav",
        speech_at_peak(-60.0),
        None,
        words=True,
        why="sox gain -n -60: the VAD hears it raised",
    ),
    AudioCase(
        "mp4_first_track_silent",
        "camera.mp4",
        two_track_mp4,
        None,
        words=True,
        why="two audio tracks, the default one silent: the one with sound is transcribed",
    ),
]


# --- names ------------------------------------------------------------------------------------------------------------

ACCEPTED = "accepted"  # the name is kept for display, the blob gets an ASCII slug, and the job runs

NAME_CASES: list[tuple[str, str, str]] = [  # (test id, file name, invalid_filename / unsupported_format / ACCEPTED)
    ("traversal", "../../etc/cron.d/job.wav", "invalid_filename"),
    ("windows_traversal", "..\\..\\Windows\\boot.wav", "invalid_filename"),
    ("absolute_path", "/var/lib/audio.wav", "invalid_filename"),
    ("only_dots", "..", "invalid_filename"),
    ("nul", "talk\x00.exe.wav", "invalid_filename"),
    ("newline_log_injection", "talk.wav\nINFO job done job_id=x.wav", "invalid_filename"),
    ("rtl_override", "invoice\u202evaw.exe", "invalid_filename"),  # shows as "invoiceexe.wav"
    ("bidi_isolate", "\u2067talk.wav", "invalid_filename"),
    ("zero_width_space", "meet\u200bing.wav", "invalid_filename"),
    ("fullwidth_slash", "a\uff0f..\uff0fb.wav", "invalid_filename"),  # NFKC folds U+FF0F into "/"
    ("fullwidth_dot_dot_slash", "\uff0e\uff0e\uff0ftalk.wav", "invalid_filename"),
    ("1000_characters", "a" * 996 + ".wav", "invalid_filename"),
    ("1000_characters_multibyte", "\u00e9" * 996 + ".wav", "invalid_filename"),
    ("cyrillic_extension", "talk.w\u0430v", "unsupported_format"),  # U+0430 looks like "a"
    ("combining_accents", "Cafe\u0301 re\u0301sume\u0301.wav", ACCEPTED),  # NFC: "Café résumé.wav"
    ("stacked_combining_marks", "a" + "\u0301" * 100 + ".wav", ACCEPTED),  # 205 bytes, under the 255 limit
    ("cyrillic_lookalike", "\u0430udio.wav", ACCEPTED),
    ("division_slash", "2026\u22153\u221514.wav", ACCEPTED),  # U+2215 looks like "/" but is no separator
    ("url_encoded_traversal", "%2e%2e%2f%2e%2e%2ftalk.wav", ACCEPTED),
    ("emoji", "\U0001f399\ufe0f standup.wav", ACCEPTED),
    ("windows_device_name", "CON.wav", ACCEPTED),
]


# --- request fields ---------------------------------------------------------------------------------------------------

# callback_url values POST /api/uploads must refuse with 422 invalid_callback_url under every policy, the devhost's
# (http and local addresses allowed) included. (test id, URL)
CALLBACK_URL_CASES: list[tuple[str, str]] = [
    ("port_too_large", "http://127.0.0.1:99999/hook"),  # urlsplit raised ValueError: was a 500 internal_error
    ("port_negative", "http://127.0.0.1:-1/hook"),
    ("port_not_a_number", "http://127.0.0.1:abc/hook"),
    ("unclosed_ipv6_bracket", "https://[::1/hook"),
    ("port_zero", "http://127.0.0.1:0/hook"),
    ("empty_credentials", "http://:@127.0.0.1/hook"),
    ("control_character", "http://127.0.0.1/ho\x00ok"),
    ("not_http", "ftp://127.0.0.1/hook"),
]

# metadata POST /api/uploads must refuse with 422 validation_error. (test id, metadata)
METADATA_CASES: list[tuple[str, dict[str, str]]] = [
    ("nul", {"note": "a\x00b"}),
    ("rtl_override", {"invoice": "invoice\u202evaw.exe"}),  # shows as "invoiceexe.wav"
    ("newline_log_injection", {"note": "x\nINFO job done job_id=other"}),
    ("zero_width_space", {"tag": "ad\u200bmin"}),
    ("lone_surrogate", {"tag": "\ud800"}),
]
