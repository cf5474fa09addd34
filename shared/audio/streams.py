"""Which audio stream of a file to transcribe: the one a listener would hear.

FFmpeg's "best" audio stream is the default-flagged one, else the first: an MP4 with two audio tracks whose first
is silent (a muted camera microphone beside the lavalier's track) was transcribed from the silent one and completed
with no words and no language (issue 22). So when a file holds more than one audio stream, each candidate,
default-flagged first and then in file order, is listened to at a few points across its length, and the first one
with sound at any of them is chosen; when none has sound, the first candidate is (and the job then says it heard
nothing). Listening reads a couple of seconds at each point through the container's index: a few range reads,
whatever the file's size.

A caller may pick the stream instead (``wanted``: 0 for the file's first audio stream); one the file does not have
fails the job with ``audio_stream_not_found``. The choice is recorded as ``AudioInfo.stream_index`` (the
container's index), so every window decodes the same stream the probe chose.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.audio.level import SILENT_PEAK
from shared.errors import ErrorCode, PermanentError

logger = logging.getLogger(__name__)

LISTEN_AT = (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95)  # fractions of the stream's length
LISTEN_S = 2.0  # decoded at each point
_DEFAULT = 1  # AV_DISPOSITION_DEFAULT


def choose(container: Any, filename: str, index: int | None = None, wanted: int | None = None) -> Any:
    """The stream to transcribe: the one at container index ``index`` when given (what the probe chose), else the
    caller's pick ``wanted`` (0 for the file's first audio stream), else the chosen one (module docstring); the
    right error when there is none, or when it cannot be decoded."""
    audio = list(container.streams.audio)
    if index is not None:
        picked = [s for s in audio if s.index == index]
        if not picked:
            raise PermanentError(ErrorCode.CORRUPT_AUDIO, f"'{filename}' has no audio stream {index}")
        return _decodable(picked[0], filename)
    if not audio:
        if container.streams.video:
            raise PermanentError(ErrorCode.UNSUPPORTED_FORMAT, f"'{filename}' has video or images but no audio stream")
        raise PermanentError(ErrorCode.CORRUPT_AUDIO, f"'{filename}' is not an audio file (no audio stream)")
    if wanted is not None:
        check_wanted(wanted, len(audio), filename)
        return _decodable(audio[wanted], filename)
    if len(audio) == 1:
        return _decodable(audio[0], filename)
    candidates = [s for s in _in_preference(audio) if _can_decode(s)]
    if not candidates:
        raise PermanentError(ErrorCode.UNSUPPORTED_FORMAT, f"'{filename}' uses an audio codec we cannot decode")
    for stream in candidates:
        if has_sound(container, stream):
            logger.info("%s: audio stream %d of %d has sound; transcribing it", filename, stream.index, len(audio))
            return stream
    first = candidates[0].index
    logger.warning("%s: none of its %d audio streams has sound; transcribing stream %d", filename, len(audio), first)
    return candidates[0]


def check_wanted(wanted: int, count: int, filename: str) -> None:
    """The caller's pick must be one of the file's ``count`` audio streams, numbered from 0."""
    if not 0 <= wanted < count:
        raise PermanentError(
            ErrorCode.AUDIO_STREAM_NOT_FOUND,
            f"'{filename}' has {count} audio stream{'s' if count != 1 else ''}, numbered from 0; "
            f"audio_stream {wanted} was asked for",
        )


def _in_preference(streams: list[Any]) -> list[Any]:
    """Default-flagged streams first, each group in file order."""
    return sorted(streams, key=lambda s: (not int(s.disposition) & _DEFAULT, s.index))


def _can_decode(stream: Any) -> bool:
    ctx = stream.codec_context
    return ctx is not None and ctx.codec is not None and ctx.codec.is_decoder


def _decodable(stream: Any, filename: str) -> Any:
    if not _can_decode(stream):
        raise PermanentError(ErrorCode.UNSUPPORTED_FORMAT, f"'{filename}' uses an audio codec we cannot decode")
    return stream


def has_sound(container: Any, stream: Any) -> bool:
    """Whether ``stream`` reaches the silence floor (shared/audio/level.py) at any of the listening points."""
    import av

    length_s = _length_s(container, stream)
    points = [0.0] if length_s is None else [f * length_s for f in LISTEN_AT]
    try:
        return any(_loud_near(container, stream, at) for at in points)
    except av.error.FFmpegError:
        return False
    finally:
        container.seek(0)


def _length_s(container: Any, stream: Any) -> float | None:
    if stream.duration:
        return float(stream.duration * stream.time_base)
    return container.duration / 1_000_000 if container.duration else None


def _loud_near(container: Any, stream: Any, at_s: float) -> bool:
    """Decode up to :data:`LISTEN_S` of ``stream`` from the keyframe before ``at_s``; True at the first loud frame."""
    import av

    from shared.audio.pcm import frame_to_mono

    origin = stream.start_time or 0
    container.seek(origin + int(at_s / stream.time_base), stream=stream, backward=True, any_frame=False)
    heard = 0.0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            continue
        for frame in frames:
            mono = frame_to_mono(frame)
            if len(mono) and float(abs(mono).max()) >= SILENT_PEAK:
                return True
            heard += frame.samples / frame.sample_rate
        if heard >= LISTEN_S:
            break
    return False
