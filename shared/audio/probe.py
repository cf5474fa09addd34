"""What is in an audio file, from its headers: format, codec, duration, rate, channels, and which decoder to use.

The probe runs on the source blob through :class:`~shared.audio.blob_reader.BlobRangeReader`, so it must never
read the whole file: it parses headers, checks that the first audio frame decodes, and (for the exact,
seekable formats) that the last one does too. That is a few range reads whatever the file's size.

libsndfile is tried first (WAV/RF64/W64, FLAC, AIFF, CAF): its frame counts are exact and its seeks are
sample-accurate, so windows cut from these files line up to the sample. Everything else (MP3, MP4/M4A/AAC,
Ogg Opus/Vorbis, WebM/Matroska, WAV holding a compressed codec, ...) goes to FFmpeg through PyAV, whose durations come
from container or stream metadata (for an MP3 without a Xing/VBRI header FFmpeg estimates from the bitrate).

Ogg goes to FFmpeg because libsndfile (1.2.2) mistimes a damaged Ogg stream: the pages that fail their CRC are
dropped and the audio after them is returned that much early, until a later read call puts it back in place, so
seconds of audio come twice, and which seconds depends on where the window starts and on the read size (4 KB
overwritten in the middle of ``speech.opus``: 3 s early from 10 s to 16.4 s, then 16.4-19.4 s again; 16 KB at a
third: the read ended 7 s early and the whole file failed as ``corrupt_audio``). FFmpeg times each packet by its
page's granule position, and :func:`~shared.audio.decode.read_window` fills the hole with silence, the same for
every window (``tests/faults/test_reproducible.py``).

How bad input is classified, consistently for every format:

- ``empty_audio``: zero bytes, or a valid audio file that holds zero samples.
- ``unsupported_format``: valid media that we cannot transcribe: no audio stream but a video one (a video-only
  MP4, an image), or an audio stream whose codec has no decoder here.
- ``corrupt_audio``: bytes that neither library recognises as media (a text file named ``.wav``), or media with
  neither audio nor video (subtitles, data), or audio that does not decode: the first frame fails, or the
  stream ends before its headers say it does (a truncated FLAC, or a WAV whose ``data`` chunk claims more than
  the file holds: failing beats transcribing half a recording as if it were all of it), or headers that cannot
  be true: a sample rate outside 1 kHz-768 kHz (a 159 KB WAV claiming 1 Hz would be 22 hours of "audio" and
  tie up the GPUs), or no channels or more than 255.

A compressed stream whose headers declare more audio than its bytes can hold at the codec's lowest bitrate (a
patched Xing frame count: 7 s declared as 50 hours) is not refused, its audio is fine: its duration is measured
from its packets instead, and the declared one kept in ``AudioInfo.declared_duration_s`` so that the transcript
says so (:mod:`shared.audio.duration`).

Storage failures while reading are never reclassified: a :class:`~shared.errors.TransientError` from the reader
propagates as itself, even when it happened inside libsndfile.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from typing import Any

from shared.audio.blob_reader import AudioSource, GuardedFile
from shared.audio.duration import believable, ceiling_s
from shared.audio.streams import check_wanted, choose
from shared.contracts import AudioInfo
from shared.errors import ErrorCode, PermanentError

logger = logging.getLogger(__name__)

# libsndfile major formats we decode with libsndfile, and the container name we report for each. Anything else it
# recognises (notably MP3, which libsndfile 1.1+ reads, and Ogg, which it mistimes when damaged: module docstring)
# goes to FFmpeg, which handles encoder delay and seeking in compressed streams the same way for every codec.
SOUNDFILE_FORMATS = {
    "WAV": "wav",
    "WAVEX": "wav",
    "RF64": "rf64",
    "W64": "w64",
    "FLAC": "flac",
    "AIFF": "aiff",
    "CAF": "caf",
}

# MPEG audio inside a WAV: libsndfile reads it without handling encoder delay or an exact frame count.
_FFMPEG_SUBTYPES = frozenset({"MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III"})

# libsndfile subtypes as FFmpeg codec names, so AudioInfo.codec reads the same whichever library probed.
_SUBTYPE_CODECS = {
    "VORBIS": "vorbis",
    "OPUS": "opus",
    "PCM_S8": "pcm_s8",
    "PCM_U8": "pcm_u8",
    "ULAW": "pcm_mulaw",
    "ALAW": "pcm_alaw",
    "IMA_ADPCM": "adpcm_ima_wav",
    "MS_ADPCM": "adpcm_ms",
    "GSM610": "gsm_ms",
}
_PCM_CODECS = {"PCM_16": "pcm_s16", "PCM_24": "pcm_s24", "PCM_32": "pcm_s32", "FLOAT": "pcm_f32", "DOUBLE": "pcm_f64"}

# FFmpeg names demuxers by the family they cover; report the family's usual name.
_AV_FORMAT_NAMES = {"mov,mp4,m4a,3gp,3g2,mj2": "mp4", "matroska,webm": "webm"}

# Sample rates the decoders and resampler handle, and what a real recording uses (telephony 8 kHz to studio 768 kHz).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1_000, 768_000
MAX_CHANNELS = 255
_BYTES_PER_SAMPLE = {"PCM_S8": 1, "PCM_U8": 1, "ULAW": 1, "ALAW": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4}
_BYTES_PER_SAMPLE |= {"FLOAT": 4, "DOUBLE": 8}

# How many packets the probe may demux looking for the first decodable frame (decoders such as MP3 may need a
# few packets after junk or a damaged start before they emit anything).
_FIRST_FRAME_PACKETS = 64


def probe(fileobj: AudioSource, filename: str, audio_stream: int | None = None) -> AudioInfo:
    """Describe the audio in ``fileobj`` (any seekable binary file) from its headers.

    Args:
      fileobj: the source, typically a :class:`~shared.audio.blob_reader.BlobRangeReader`; its position is
        changed.
      filename: the customer's file name, used in error details and logs only: the bytes decide the format.
      audio_stream: the caller's pick among the file's audio streams (0: the first); None: the one with sound
        (:mod:`shared.audio.streams`).

    Returns:
      An :class:`AudioInfo` whose ``decoder`` tells :func:`shared.audio.decode.read_window` which path to take.

    Raises:
      PermanentError: ``empty_audio``, ``unsupported_format`` or ``corrupt_audio`` (see the module docstring).
      TransientError: storage trouble while reading (from the reader).
    """
    size = fileobj.seek(0, io.SEEK_END)
    if size == 0:
        raise PermanentError(ErrorCode.EMPTY_AUDIO, f"'{filename}' is empty (0 bytes)")
    info = None if _is_ogg(fileobj) else _probe_soundfile(fileobj, filename)
    if info is None:
        info = _probe_av(fileobj, filename, size, audio_stream)
    elif audio_stream is not None:
        check_wanted(audio_stream, 1, filename)  # libsndfile's formats hold one stream
    _check_plausible(info, filename)
    logger.info(
        "probed %s: %s/%s %.3f s %d Hz %d ch (%s)",
        filename,
        info.format,
        info.codec,
        info.duration_s,
        info.sample_rate,
        info.channels,
        info.decoder,
    )
    return info


@contextlib.contextmanager
def soundfile_errors(fileobj: AudioSource) -> Iterator[GuardedFile]:
    """Yield ``fileobj`` guarded for libsndfile; a failure of the underlying reads wins over the library's view.

    libsndfile sees a failed read as end of file and reports "malformed header" or "lost sync"; the reader's own
    exception (say a :class:`TransientError`) is the truth, so it is raised instead, with the library's error
    chained.
    """
    fileobj.seek(0)
    guarded = GuardedFile(fileobj)
    try:
        yield guarded
    except Exception as exc:
        if guarded.failure is not None and guarded.failure is not exc:
            raise guarded.failure from exc
        raise
    guarded.raise_failure()


def _is_ogg(fileobj: AudioSource) -> bool:
    """Ogg's capture pattern: such files go to FFmpeg (module docstring) without libsndfile reading their end first."""
    fileobj.seek(0)
    return bytes(fileobj.read(4)) == b"OggS"


def _probe_soundfile(fileobj: AudioSource, filename: str) -> AudioInfo | None:
    """Probe with libsndfile; ``None`` when it does not recognise the bytes or the format is FFmpeg's."""
    import soundfile as sf

    with soundfile_errors(fileobj) as guarded:
        try:
            sound = sf.SoundFile(guarded)
        except sf.LibsndfileError as exc:
            guarded.raise_failure()
            logger.debug("libsndfile does not read %s (%s); trying FFmpeg", filename, exc)
            return None
        with sound:
            fmt = SOUNDFILE_FORMATS.get(sound.format)
            if fmt is None or sound.subtype in _FFMPEG_SUBTYPES:
                logger.debug(
                    "libsndfile reads %s as %s/%s; leaving it to FFmpeg", filename, sound.format, sound.subtype
                )
                return None
            info = AudioInfo(
                format=fmt,
                codec=_soundfile_codec(sound.format, sound.subtype),
                duration_s=sound.frames / sound.samplerate,
                sample_rate=sound.samplerate,
                channels=sound.channels,
                decoder="soundfile",
            )
            if sound.frames <= 0:
                raise PermanentError(ErrorCode.EMPTY_AUDIO, f"'{filename}' holds no audio samples")
            _check_tail(sound, filename, guarded)
            frame_bytes = sound.channels * _BYTES_PER_SAMPLE.get(sound.subtype, 0)
    if fmt in ("wav", "rf64"):
        _check_wav_complete(fileobj, info, frame_bytes, filename)
    return info


def _check_plausible(info: AudioInfo, filename: str) -> None:
    """Headers that no recording has: refused before they cost hours of GPU time."""
    if not MIN_SAMPLE_RATE <= info.sample_rate <= MAX_SAMPLE_RATE:
        raise PermanentError(
            ErrorCode.CORRUPT_AUDIO,
            f"'{filename}' declares a sample rate of {info.sample_rate} Hz; audio is {MIN_SAMPLE_RATE}-"
            f"{MAX_SAMPLE_RATE} Hz",
        )
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise PermanentError(ErrorCode.CORRUPT_AUDIO, f"'{filename}' declares {info.channels} channels")


def _check_wav_complete(fileobj: AudioSource, info: AudioInfo, frame_bytes: int, filename: str) -> None:
    """A WAV whose data chunk declares more than the file holds was cut short (an upload that lost its end)."""
    from shared.audio.riff import missing_bytes

    missing = missing_bytes(fileobj)
    if missing <= max(frame_bytes, 1):
        return
    declared = f" of the {info.duration_s + missing / frame_bytes / info.sample_rate:.1f} s" if frame_bytes else ""
    raise PermanentError(
        ErrorCode.CORRUPT_AUDIO,
        f"'{filename}' holds {info.duration_s:.1f} s{declared} its header declares ({missing} bytes missing): "
        "it looks truncated",
    )


def _soundfile_codec(major: str, subtype: str) -> str:
    if major == "FLAC":
        return "flac"
    if subtype in _SUBTYPE_CODECS:
        return _SUBTYPE_CODECS[subtype]
    if subtype in _PCM_CODECS:
        return _PCM_CODECS[subtype] + ("be" if major in ("AIFF",) else "le")
    return subtype.lower()


def _check_tail(sound: Any, filename: str, guarded: GuardedFile) -> None:
    """Decode the last 0.1 s: a file cut short (an upload that lost its end) fails here, not hours later."""
    import soundfile as sf

    tail = max(1, min(sound.frames, sound.samplerate // 10))
    try:
        sound.seek(sound.frames - tail)
        got = len(sound.read(tail, dtype="float32", always_2d=True))
    except sf.LibsndfileError as exc:
        guarded.raise_failure()
        raise PermanentError(
            ErrorCode.CORRUPT_AUDIO,
            f"'{filename}' ends before its headers say it does ({sound.frames / sound.samplerate:.3f} s): "
            f"it looks truncated ({exc})",
        ) from exc
    guarded.raise_failure()
    if got < tail:
        raise PermanentError(ErrorCode.CORRUPT_AUDIO, f"'{filename}' ends before its headers say it does")


def audio_stream(container: Any, filename: str, index: int | None = None) -> Any:
    """The stream to transcribe (:func:`shared.audio.streams.choose`), or the right error when there is none."""
    return choose(container, filename, index)


def open_container(fileobj: AudioSource, filename: str) -> Any:
    """``av.open`` on the file object, with FFmpeg's "not media" errors as ``corrupt_audio``."""
    import av

    fileobj.seek(0)
    try:
        return av.open(fileobj, mode="r", metadata_errors="replace")  # odd tag bytes must not fail a file
    except av.error.FFmpegError as exc:
        raise PermanentError(
            ErrorCode.CORRUPT_AUDIO, f"'{filename}' is not a recognisable audio file ({exc.strerror})"
        ) from exc


def _probe_av(fileobj: AudioSource, filename: str, size: int, wanted: int | None) -> AudioInfo:
    import av

    with open_container(fileobj, filename) as container:
        stream = choose(container, filename, wanted=wanted)
        several = len(container.streams.audio) > 1
        ctx = stream.codec_context
        names = container.format.name
        fmt = _AV_FORMAT_NAMES.get(names, names.split(",")[0])
        try:
            has_frames = _first_frame_decodes(container, stream, filename)
            declared = duration = _metadata_duration(container, stream)
            if duration is None and has_frames:
                duration = _duration_from_packets(container, stream, filename)
            elif duration is not None and not believable(duration, size, ctx.codec.canonical_name, ctx.sample_rate):
                duration = _measured_instead(container, stream, filename, duration, size)
        except av.error.FFmpegError as exc:
            raise PermanentError(ErrorCode.CORRUPT_AUDIO, f"'{filename}' does not decode ({exc.strerror})") from exc
        if not has_frames or not duration or duration <= 0:
            raise PermanentError(ErrorCode.EMPTY_AUDIO, f"'{filename}' holds no audio samples")
        return AudioInfo(
            format=fmt,
            codec=ctx.codec.canonical_name,
            duration_s=duration,
            sample_rate=ctx.sample_rate,
            channels=ctx.channels,
            decoder="av",
            declared_duration_s=declared if declared is not None and declared != duration else None,
            stream_index=stream.index if several else None,
        )


def _measured_instead(container: Any, stream: Any, filename: str, declared: float, size: int) -> float | None:
    """The duration of a stream whose headers declare more than its bytes can hold (shared/audio/duration.py)."""
    limit = ceiling_s(size, stream.codec_context.codec.canonical_name, stream.codec_context.sample_rate)
    logger.warning(
        "%s declares %.3f s, more than its %d bytes can hold (%.3f s at the codec's lowest bitrate); measuring it",
        filename,
        declared,
        size,
        limit,
    )
    return _duration_from_packets(container, stream, filename)


def _first_frame_decodes(container: Any, stream: Any, filename: str) -> bool:
    """True when a frame decodes within the first packets; False when the stream has no packets at all.

    Raises ``corrupt_audio`` when it has packets but none of the first ones decode.
    """
    import av

    last_error: av.error.FFmpegError | None = None
    seen_data = False
    for count, packet in enumerate(container.demux(stream)):
        if count >= _FIRST_FRAME_PACKETS:
            break
        seen_data = seen_data or packet.size > 0
        try:
            if packet.decode():
                return True
        except av.error.InvalidDataError as exc:  # a damaged packet; decoders resync on the next ones
            last_error = exc
    if not seen_data:
        return False
    reason = f" ({last_error.strerror})" if last_error is not None else ""
    raise PermanentError(ErrorCode.CORRUPT_AUDIO, f"'{filename}' has an audio stream that does not decode{reason}")


def _metadata_duration(container: Any, stream: Any) -> float | None:
    """Duration from the stream header, else the container's (both exclude the stream's start offset)."""
    if stream.duration is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return float(container.duration / 1_000_000)
    return None


def _duration_from_packets(container: Any, stream: Any, filename: str) -> float | None:
    """For streams with no duration anywhere (live-recorded WebM), or one that cannot be true: the end of the last
    packet.

    This demuxes (never decodes) every packet, so it reads the whole file once, streamed through the reader's
    small cache; it is logged because these are the only cases where the probe is not header-only.
    """
    logger.warning("%s: scanning its packets for its duration", filename)
    container.seek(0)
    start = stream.start_time or 0
    end: int | None = None
    for packet in container.demux(stream):
        if packet.pts is not None:
            packet_end = packet.pts + (packet.duration or 0)
            end = packet_end if end is None else max(end, packet_end)
    return None if end is None else float((end - start) * stream.time_base)
