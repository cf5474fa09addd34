"""Where a window's speech is, and how it is cut into the clips the model decodes.

faster-whisper's batched pipeline finds speech with Silero VAD, then *concatenates* the speech it found, silences cut
out, into 30 s chunks and decodes each chunk once without timestamps. On real recordings of short utterances and
pauses that loses whole utterances: Whisper, handed several sentences of different speakers glued together, ends
its text after the first ones (measured for issue 20 on 29.5 min of real speech, tiny.en, 345 utterances: 23.3 %
WER and 89 utterances with under 60 % of their words, against 17.2 % and 62 for a sequential pass).

Here the same VAD gives the speech's spans, and a clip is a contiguous stretch of the recording, pauses included,
from the start of one span to the end of the last span that still fits in 30 s: an utterance is never cut (a span
is at most 30 s: the VAD splits longer speech at its quietest point) and Whisper hears the pauses it was trained on,
with timestamps. What a clip still misses is found by :mod:`worker.post.coverage` and decoded again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.contracts import Span

SAMPLE_RATE = 16_000
CLIP_S = 30.0
"""Whisper's input: the encoder always sees 30 s, so a clip of up to 30 s costs one encoder pass."""

MIN_SILENCE_MS = 160
"""A pause this long ends a span (the batched pipeline's own default; the sequential default, 2 s, would merge a
whole exchange into one span and leave the coverage check blind to a lost sentence inside it)."""

SPEECH_PAD_MS = 400
"""Each span is widened by this much on both sides (Silero's default): word onsets and soft endings stay inside."""


def speech_spans(audio: Any, sample_rate: int = SAMPLE_RATE) -> list[Span]:
    """The spans of ``audio`` (16 kHz mono float32) that Silero VAD hears as speech, in seconds from its start."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        min_silence_duration_ms=MIN_SILENCE_MS, speech_pad_ms=SPEECH_PAD_MS, max_speech_duration_s=CLIP_S
    )
    found = get_speech_timestamps(audio, options, sampling_rate=sample_rate)
    return [Span(start=t["start"] / sample_rate, end=t["end"] / sample_rate) for t in found]


def pack(spans: Sequence[Span], clip_s: float = CLIP_S) -> list[Span]:
    """Contiguous clips of at most ``clip_s`` seconds, each from one span's start to a later span's end.

    Spans are taken in order; a span that does not fit in the current clip starts the next one. A span longer than
    a clip (the VAD's split allows a little over) is its own clip: the decoder hears its first 30 s and the coverage
    check sends what is left back for another pass.
    """
    clips: list[Span] = []
    for span in spans:
        if clips and span.end - clips[-1].start <= clip_s:
            clips[-1] = Span(start=clips[-1].start, end=span.end)
        else:
            clips.append(span)
    return clips


def fixed_clips(duration_s: float, clip_s: float = CLIP_S) -> list[Span]:
    """Consecutive clips of at most ``clip_s`` covering the audio: what is decoded when the VAD filter is off."""
    starts = [k * clip_s for k in range(int(duration_s // clip_s) + 1) if k * clip_s < duration_s]
    return [Span(start=s, end=min(s + clip_s, duration_s)) for s in starts]
