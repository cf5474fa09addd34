"""Checking a compressed stream's declared duration against the file, before it is planned into windows.

FFmpeg takes an MP3's duration from its Xing/Info frame count, an MP4's from its sample tables, and believes them:
a 47 KB, 7 s MP3 whose Xing count was patched to 8.2 million frames probed as 179,999.9 s, was planned into 300
windows of empty audio and "completed" with that duration (issue 22). No header can be trusted to say more than the
bytes can hold: every codec needs some bits per second of audio, so ``size * 8 / floor`` bounds any true duration.

The floor is the least a stream can spend per second. MPEG audio frames carry a bitrate index whose lowest value is
32 kb/s for MPEG-1 (32-48 kHz) and 8 kb/s for MPEG-2 and 2.5 (8-24 kHz): no frame, not even digital silence, is
smaller. Other codecs can go far lower (Opus with DTX spends ~60 b/s on silence), so they get a floor of 1 kb/s: a
file that legitimately falls under it is small for its length, and measuring it costs little.

A declared duration over the bound is measured from the packets' timestamps (demuxed, not decoded: a streamed read
of the file through the reader's small cache, memory flat in its size), and the measure is what the job uses.
"""

from __future__ import annotations

MPEG_CODECS = frozenset({"mp1", "mp2", "mp3"})
MPEG1_MIN_RATE = 32_000  # MPEG-1 audio is 32, 44.1 or 48 kHz; MPEG-2 halves those, MPEG-2.5 quarters them
MPEG1_FLOOR_BPS = 32_000
MPEG2_FLOOR_BPS = 8_000
OTHER_FLOOR_BPS = 1_000


def floor_bps(codec: str, sample_rate: int) -> int:
    """The fewest bits per second a stream of ``codec`` at ``sample_rate`` can spend (module docstring)."""
    if codec in MPEG_CODECS:
        return MPEG1_FLOOR_BPS if sample_rate >= MPEG1_MIN_RATE else MPEG2_FLOOR_BPS
    return OTHER_FLOOR_BPS


def ceiling_s(size_bytes: int, codec: str, sample_rate: int) -> float:
    """The longest duration ``size_bytes`` of ``codec`` can hold: more is a header that cannot be true."""
    return size_bytes * 8 / floor_bps(codec, sample_rate)


def believable(declared_s: float, size_bytes: int, codec: str, sample_rate: int) -> bool:
    """Whether a declared duration fits in the file at the codec's lowest bitrate."""
    return declared_s <= ceiling_s(size_bytes, codec, sample_rate)
