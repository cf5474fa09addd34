"""Decode one window of a source file to what Whisper eats: float32, 16 kHz, mono, in [-1, 1].

Only the window is read and decoded (plus a few milliseconds of context for the resampler, and for compressed
codecs a short pre-roll so the decoder has warmed up), so memory and I/O are O(window) whatever the file's size.

Sample alignment is the point: a worker's timestamps are the window's real start plus offsets into the array, so
the array's first sample must be the sample at ``start_s`` of the file. Output sample ``k`` of a window is the
file's 16 kHz sample ``round(start_s * 16000) + k``, where the file's time 0 is its first decoded sample (after
the encoder delay that Xing/LAME headers, MP4 edit lists and Opus pre-skip declare), i.e. what a decode of the
whole file from the start would give:

- libsndfile path: seeks are sample-exact. The read starts on a block boundary where the source rate and
  16 kHz share a sample instant (every ``rate / gcd(rate, 16000)`` input samples), so the resampled output maps to
  integer 16 kHz indices, and libswresample's output is delay-compensated (its sample 0 is input sample 0).
  Adjacent windows concatenate to exactly the samples of one window covering both.
- FFmpeg path: the container is sought to a keyframe before the window (with pre-roll), frames are decoded and
  placed by their presentation timestamps, starting on the same kind of grid point, gaps (damaged packets,
  discontinuities) are filled with silence, and the output is trimmed by sample index. Precision is that of the
  timestamps: exact for MP3/MP4/Ogg, 1 ms for WebM. FFmpeg seeks MP3 exactly only by demuxing from the start
  (the Xing TOC and ``fastseek`` byte scaling land hundreds of ms off in VBR files), so an MP3 window reads the
  file up to its position, demuxing but not decoding it; memory stays O(window).

Channels are averaged (libswresample's own stereo downmix sums at -3 dB each, which clips full-scale audio).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from shared.audio.blob_reader import AudioSource
from shared.audio.pcm import SAMPLE_RATE, MonoResampler, frame_to_mono
from shared.audio.probe import audio_stream, open_container, soundfile_errors
from shared.contracts import AudioInfo
from shared.errors import ErrorCode, PermanentError

if TYPE_CHECKING:
    from shared.audio.pcm import Samples

logger = logging.getLogger(__name__)

_CONTEXT_S = 0.02  # decoded on each side of the window so the resampler's filter sees real audio at the edges
_BLOCK_FRAMES = 1 << 16  # libsndfile reads per call: bounds the float copy of multi-channel, high-rate audio
# How far before the window the FFmpeg path seeks. Decoders need a few frames to warm up (MP3's bit reservoir,
# AAC's overlap, Opus's 80 ms pre-roll); a demuxer whose index is coarse may land after the target, in which
# case the next, longer pre-roll is tried, and finally a decode from the start (None).
_PREROLLS_S: tuple[float | None, ...] = (0.5, 5.0, 60.0, None)
_ORIGIN_PACKETS = 64  # packets decoded at the start of the file to find its first sample's timestamp
_GAP_S = 0.005  # timestamp jumps larger than this are filled with silence (WebM timestamps are 1 ms)


def read_window(fileobj: AudioSource, info: AudioInfo, start_s: float, end_s: float) -> Samples:
    """Decode ``[start_s, end_s)`` of the file that ``info`` describes.

    Args:
      fileobj: the same source that was probed (any seekable binary file); its position is changed.
      info: the probe's result; ``info.decoder`` picks the path.
      start_s, end_s: the window, in seconds from the file's first sample.

    Returns:
      ``round(end_s * 16000) - round(start_s * 16000)`` samples, float32 in [-1, 1], fewer only when the window
      runs past the end of the audio (none when it starts past it).

    Raises:
      ValueError: a window that is negative, empty or not finite, or an unknown decoder.
      PermanentError: ``corrupt_audio`` when the audio does not decode or ends before its headers say.
      TransientError: storage trouble while reading.
    """
    if not (math.isfinite(start_s) and math.isfinite(end_s)) or start_s < 0 or end_s <= start_s:
        raise ValueError(f"invalid window [{start_s}, {end_s})")
    n0, n1 = round(start_s * SAMPLE_RATE), round(end_s * SAMPLE_RATE)
    if info.decoder == "soundfile":
        samples = _read_soundfile(fileobj, n0, n1)
    elif info.decoder == "av":
        samples = _read_av(fileobj, info.stream_index, start_s, n0, n1)
    else:
        raise ValueError(f"unknown decoder {info.decoder!r}; expected 'soundfile' or 'av'")
    if len(samples) < n1 - n0 and end_s < info.duration_s - 0.1:
        logger.warning(
            "window [%.3f, %.3f) gave %.3f s of audio; the file's headers say it lasts %.3f s",
            start_s,
            end_s,
            len(samples) / SAMPLE_RATE,
            info.duration_s,
        )
    import numpy as np

    return np.clip(samples, -1.0, 1.0, out=samples)


# --- libsndfile ----------------------------------------------------------------------------------------------------


def _read_soundfile(fileobj: AudioSource, n0: int, n1: int) -> Samples:
    import soundfile as sf

    with soundfile_errors(fileobj) as guarded:
        try:
            with sf.SoundFile(guarded) as sound:
                return _soundfile_window(sound, n0, n1)
        except sf.LibsndfileError as exc:
            guarded.raise_failure()
            raise PermanentError(ErrorCode.CORRUPT_AUDIO, f"the audio does not decode: {exc}") from exc


def _soundfile_window(sound: Any, n0: int, n1: int) -> Samples:
    import numpy as np

    rate, total = sound.samplerate, sound.frames
    n1 = min(n1, total * SAMPLE_RATE // rate)
    if n0 >= n1:
        return np.zeros(0, np.float32)
    if rate == SAMPLE_RATE:
        first, last, out_first, resampler = n0, n1, n0, None
    else:
        # Input block boundaries where both rates have a sample at the same instant: reading from one makes the
        # resampled output land on integer 16 kHz indices (out_first), with no fractional offset to correct.
        g = math.gcd(rate, SAMPLE_RATE)
        step_in, step_out = rate // g, SAMPLE_RATE // g
        context = round(_CONTEXT_S * SAMPLE_RATE)
        block0 = max(0, n0 - context) // step_out
        block1 = -(-(n1 + context) // step_out)
        first, last, out_first = block0 * step_in, min(total, block1 * step_in), block0 * step_out
        resampler = MonoResampler(rate)
    sound.seek(first)
    pieces: list[Samples] = []
    left = last - first
    while left > 0:
        block = sound.read(min(_BLOCK_FRAMES, left), dtype="float32", always_2d=True)
        if len(block) == 0:
            break
        left -= len(block)
        mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else np.ascontiguousarray(block[:, 0])
        pieces.append(resampler.feed(mono) if resampler else mono)
    if left > 0:
        raise PermanentError(
            ErrorCode.CORRUPT_AUDIO,
            f"the audio ends at {(last - left) / rate:.3f} s, before the {total / rate:.3f} s its headers declare",
        )
    if resampler:
        pieces.append(resampler.flush())
    samples = np.concatenate(pieces)[n0 - out_first : n1 - out_first]
    short = (n1 - n0) - len(samples)
    if short > 0:  # the resampler rounds the file's very last output sample away; nothing else may be missing
        if last != total or short > 2:
            raise PermanentError(ErrorCode.CORRUPT_AUDIO, f"decoded {len(samples)} of {n1 - n0} samples")
        samples = np.concatenate([samples, np.zeros(short, np.float32)])
    return samples


# --- FFmpeg (PyAV) -------------------------------------------------------------------------------------------------


class _SeekOvershoot(Exception):
    """The demuxer landed after the window's start: retry with a longer pre-roll."""


def _read_av(fileobj: AudioSource, stream_index: int | None, start_s: float, n0: int, n1: int) -> Samples:
    import av

    with open_container(fileobj, "source") as container:
        stream = audio_stream(container, "source", stream_index)  # the one the probe chose
        try:
            origin = _origin(container, stream)
            for preroll in _PREROLLS_S:
                try:
                    return _av_window(container, stream, origin, start_s, n0, n1, preroll)
                except _SeekOvershoot:
                    logger.info("seek landed after %.3f s with %.1f s pre-roll; seeking earlier", start_s, preroll)
        except av.error.FFmpegError as exc:
            raise PermanentError(ErrorCode.CORRUPT_AUDIO, f"the audio does not decode: {exc.strerror}") from exc
    raise AssertionError("unreachable: the last pre-roll decodes from the start")


def _origin(container: Any, stream: Any) -> int:
    """Timestamp of the first decoded sample: the file's time 0, as a decode from the start sees it.

    Not ``stream.start_time``: for Opus in WebM that is the first packet's time plus its pre-skip, rounded to
    the millisecond, 13 ms after the first decoded sample. The start of the file is in the reader's cache right
    after ``av.open``, so this costs no request.
    """
    import av

    for count, packet in enumerate(container.demux(stream)):
        if count >= _ORIGIN_PACKETS:
            break
        try:
            for frame in packet.decode():
                if frame.pts is not None:
                    return int(frame.pts)
        except av.error.InvalidDataError:
            continue
    return int(stream.start_time or 0)


def _av_window(
    container: Any, stream: Any, origin: int, start_s: float, n0: int, n1: int, preroll: float | None
) -> Samples:
    import av
    import numpy as np

    tb = stream.time_base
    rate = stream.codec_context.sample_rate
    grid: _Grid | None = None  # fixed by the first decoded frame's rate (HE-AAC decodes at twice the header's)
    seek_s = None if preroll is None else _Grid(rate, start_s, n1).start / rate - preroll
    if seek_s is not None and seek_s > 0:
        container.seek(origin + int(seek_s / tb), stream=stream, backward=True, any_frame=False)
    else:
        seek_s = None
        container.seek(origin, stream=stream, backward=True, any_frame=False)

    resampler: MonoResampler | None = None
    pieces: list[Samples] = []
    first = fed = 0  # input sample indices (from the origin): first fed to the resampler, next to feed
    clock: int | None = None  # where the previous decoded frame ended
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError as exc:  # a damaged packet: skipped, the hole becomes silence below
            logger.warning("skipping a packet that does not decode at %s: %s", packet.pts, exc.strerror)
            continue
        for frame in frames:
            if grid is None:
                grid = _Grid(frame.sample_rate, start_s, n1)
            elif frame.sample_rate != grid.rate:
                raise PermanentError(
                    ErrorCode.UNSUPPORTED_FORMAT,
                    f"the sample rate changes mid-stream ({grid.rate} -> {frame.sample_rate} Hz)",
                )
            at = round((frame.pts - origin) * tb * grid.rate) if frame.pts is not None else (clock or 0)
            if clock is None and seek_s is not None and at > grid.start:
                raise _SeekOvershoot
            clock = at + frame.samples
            if clock <= grid.start:
                continue
            if at >= grid.end:
                fed = _fill_to_end(resampler, pieces, fed, at, grid)
                if resampler is None:  # the whole window lies in a hole: silence from its start
                    resampler, first = MonoResampler(grid.rate), grid.start
                    fed = _fill_to_end(resampler, pieces, first, at, grid)
                break
            mono = frame_to_mono(frame)
            tolerance = round(_GAP_S * grid.rate)
            if resampler is None:
                resampler = MonoResampler(grid.rate)
                if at < grid.start:  # start on the grid point, so the output lands on whole 16 kHz samples
                    mono, at = mono[grid.start - at :], grid.start
                first = fed = at
            elif at - fed > tolerance:  # a hole (damaged packets, a discontinuity): silence keeps the timing
                pieces.append(resampler.feed(np.zeros(at - fed, np.float32)))
                fed = at
            elif fed - at > tolerance:  # overlapping timestamps: keep what was already fed
                mono = mono[fed - at :]
            # Within the tolerance, timestamps are rounding (WebM's are in ms): the audio is contiguous.
            pieces.append(resampler.feed(mono))
            fed += len(mono)
        else:
            continue
        break  # the window is complete
    if resampler is None or grid is None:
        return np.zeros(0, np.float32)
    pieces.append(resampler.flush())
    samples = np.concatenate(pieces)
    offset = round(first * SAMPLE_RATE / grid.rate) - n0  # exact on the grid; > 0 when audio starts after n0
    samples = np.concatenate([np.zeros(offset, np.float32), samples]) if offset > 0 else samples[-offset:]
    return np.ascontiguousarray(samples[: n1 - n0])


def _fill_to_end(resampler: MonoResampler | None, pieces: list[Samples], fed: int, at: int, grid: _Grid) -> int:
    """A hole that runs past the window's end (damaged packets, the next frame at ``at``) is silence up to the end,
    as a hole inside the window is: otherwise the window would come back short, and shorter the closer its end
    falls to the hole's start. Returns the new ``fed``."""
    import numpy as np

    if resampler is None or at - fed <= round(_GAP_S * grid.rate) or fed >= grid.end:
        return fed
    pieces.append(resampler.feed(np.zeros(grid.end - fed, np.float32)))
    return grid.end


class _Grid:
    """Input sample range to decode for a window: from a point where the input and 16 kHz grids coincide.

    Both grids have a sample at the same instant every ``rate / gcd(rate, 16000)`` input samples (441 at
    44.1 kHz, 3 at 48 kHz); starting the resampler on such a point puts its output on whole 16 kHz samples.
    """

    def __init__(self, rate: int, start_s: float, n1: int) -> None:
        step = rate // math.gcd(rate, SAMPLE_RATE)
        self.rate = rate
        self.start = max(0, math.floor((start_s - _CONTEXT_S) * rate)) // step * step
        self.end = math.ceil((n1 / SAMPLE_RATE + _CONTEXT_S) * rate)
