"""faster-whisper, loaded once per process, turning a window of samples into segments with absolute times.

``device="auto"`` picks CUDA float16 when a GPU is visible, else CPU int8, so the same image runs anywhere.

How a window is decoded, and why (issue 20, measured on real speech with ``bench/real_speech``, docs/benchmarks.md):

0. A quiet window is raised to a level the VAD hears (:mod:`worker.pre.level`): quiet speech is never dropped for it.
1. Silero VAD finds the window's speech spans (:mod:`worker.pre.speech`), and the spans are packed into contiguous clips
   of at most 30 s, pauses included. faster-whisper's own batched pipeline glues the speech of several utterances
   together, silences cut out, and decodes each 30 s chunk once without timestamps: on real recordings of short
   utterances Whisper then ends its text early and whole utterances vanish (a fifth of the words in issue 20).
2. The clips are decoded ``batch_size`` at a time through ``BatchedInferencePipeline`` with ``clip_timestamps``
   (its own VAD is not used) and timestamps on, which lets Whisper place the pauses and go on after them. Its
   segments are cut into sentences by their words' times (:mod:`worker.post.resegment`) and repetition loops are cut
   (:mod:`worker.post.repetition`).
3. Every speech span left without words (:mod:`worker.post.coverage`) is decoded again on its own, with a little
   context, up to :data:`REDO_PASSES` times, also in batches; the words found there are added in order.
4. What still has no words is returned as ``untranscribed`` and ends up in the transcript: never lost silently.

The same path serves every batch size, 1 included, on CPU and GPU: the batch only says how many clips share a
decoder call. With the VAD filter off the window is cut into plain 30 s clips; the spans are still found for step 3.

A trap of ``BatchedInferencePipeline`` handled here: it keeps ``last_speech_timestamp`` across calls and resets it
only when its generator is run to the end, so a window stopped mid-way (a canceled job) would shift the next
window's word times: it is reset before each pass.

Same input, same output: decoding is at temperature 0 only (beam search). faster-whisper's default falls back to
sampling at 0.2-1.0 when a chunk's text looks wrong (compression ratio over 2.4, mean log-probability under -1), and
CTranslate2 samples from a per-thread generator seeded from ``std::random_device`` that cannot be reseeded once used
(``src/random.cc``), so a chunk that fell back came back with other words in each process (measured, sequential,
faster-whisper's defaults: the passage at double speed gave a "1,000,000,000,..." loop, "Mhmm..." and "hmm" in three
processes). The loops that the fallback was for are cut by :mod:`worker.post.repetition` instead, the same way on every
run, and the speech they drowned is found again by step 3. The VAD is deterministic too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.audio.pcm import SAMPLE_RATE
from shared.contracts import Segment, Span, Window, Word
from shared.errors import ErrorCode, PermanentError
from shared.languages import WHISPER_LANGUAGES, translates
from worker.engines.base import ENGLISH, Heard, Languages, ModelSpec, Stopped
from worker.engines.models import BUNDLED, bundled, model_path
from worker.post.coverage import fill, redo_clips, uncovered
from worker.post.doubles import drop_doubled_words
from worker.post.repetition import remove_loops
from worker.post.resegment import sentences
from worker.pre.edges import quiet_edges
from worker.pre.languages import Detect, Stretch, detected, dominant, forced, language_at, language_clips
from worker.pre.level import raised
from worker.pre.speech import fixed_clips, pack, speech_spans

logger = logging.getLogger(__name__)

TEMPERATURE = 0.0
"""The only decoding temperature: no sampling, so a rerun gives the same text (see the module docstring)."""
CHUNK_FRAMES = 3000
"""Whisper's 30 s input in feature frames (10 ms each): the most a stretch is detected on."""
MIN_UNPADDED_FRAMES = 500
"""A stretch under 5 s (a window with little speech) is detected padded to 30 s, as Whisper was trained: unpadded,
short stretches were wrong more often (2 s: 31 of 45 right against 38 padded; bench/languages.py), and a short
window's one padded pass costs little. Units of 5 s and more were right either way."""
REDO_PASSES = 2
"""How many times speech left without words is decoded again before it is reported (:mod:`worker.post.coverage`)."""


def resolve_model(name_or_path: str, cache: str | None = None) -> str:
    """A folder with a CTranslate2 model, or a bundled model's folder (:mod:`worker.engines.models`: ``tiny.en``,
    ``base``; ``cache``: where ``base`` is joined). Weights are never downloaded at run time."""
    if os.path.isdir(name_or_path):
        return name_or_path
    if bundled(name_or_path) is not None:
        return str(model_path(name_or_path, cache or None))
    raise ValueError(
        f"model '{name_or_path}' is neither a folder nor a bundled model ({', '.join(sorted(BUNDLED))}); "
        "bake the model into the image or mount it, and pass its path"
    )


def known_languages(model: Any) -> tuple[str, ...]:
    """The language codes ``model`` (a ``WhisperModel``) has tokens for: Whisper's first 99, large-v3's 100, or
    English alone (faster-whisper's ``supported_languages`` says 100 for every multilingual model)."""
    if not model.model.is_multilingual:
        return ("en",)
    return WHISPER_LANGUAGES[: model.model.num_languages]


def pick_device(device: str, compute_type: str | None) -> tuple[str, str]:
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    return device, compute_type or ("float16" if device == "cuda" else "int8")


class Transcriber:
    """faster-whisper as a :class:`worker.engines.base.TranscriptionEngine`: the worker's one engine so far."""

    def __init__(self, spec: ModelSpec) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.device, self.compute_type = pick_device(spec.device, spec.compute_type)
        # What transcripts are labelled with: a bundled name as given, a model folder by its own name
        self.model_name = os.path.basename(spec.model.rstrip("/")) if os.path.isdir(spec.model) else spec.model
        path = resolve_model(spec.model, spec.model_cache)
        self._model = WhisperModel(
            path, device=self.device, compute_type=self.compute_type, cpu_threads=spec.cpu_threads
        )
        self.batch_size = max(1, spec.batch_size)
        self._batched = BatchedInferencePipeline(model=self._model)
        self.redo_passes = REDO_PASSES
        self.known_languages = known_languages(self._model)
        logger.info(
            "model %s loaded on %s (%s), batch size %d", spec.model, self.device, self.compute_type, self.batch_size
        )

    def transcribe(
        self,
        samples: Any,
        window: Window,
        languages: Languages = ENGLISH,
        beam_size: int = 5,
        vad_filter: bool = True,
        start_in_pause: bool = True,
        keep_going: Callable[[], bool] | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> Heard:
        """Samples are 16 kHz mono float32 starting exactly at ``window.start_s``; times come back absolute.

        The audio given to the model starts and ends at the quietest moment of the window's overlap
        (:mod:`worker.pre.edges`), so that Whisper does not begin in the middle of a word and skip what follows;
        ``start_in_pause=False`` gives it the whole window (tests record what that did). Then the steps of the
        module docstring: clips, batched passes, speech without words decoded again, the rest reported.

        ``keep_going`` is asked after each decoded segment, and a ``False`` stops the work with :class:`Stopped`
        (a job canceled while its segment runs); ``on_progress`` is told the absolute time the first pass has
        reached. Loops are cut before coverage is judged: a loop's made-up words must not pass for the speech they
        drowned.
        """
        samples = raised(samples)  # quiet speech at a level the VAD hears (worker/pre/level.py)
        first, stop = 0, len(samples)
        if start_in_pause:
            lead, tail = window.keep_start_s - window.start_s, window.end_s - window.keep_end_s
            first, stop = quiet_edges(samples, SAMPLE_RATE, lead, tail)
        audio, offset = samples[first:stop], window.start_s + first / SAMPLE_RATE
        duration = len(audio) / SAMPLE_RATE
        speech = speech_spans(audio)
        stretches = self._languages(audio, speech if vad_filter else fixed_clips(duration), languages)
        clips = language_clips(stretches, pack if vad_filter else list)
        progress = _Progress(offset, keep_going, on_progress, window)
        segments = remove_loops(self._decode(audio, clips, stretches, beam_size, progress, languages.task))
        gaps = uncovered(speech, segments)
        for _ in range(self.redo_passes):
            if not gaps:
                break
            redo = [(language_at(c, stretches, languages.forced)[0] or "en", c) for c in redo_clips(gaps, duration)]
            redone = self._decode(audio, redo, stretches, beam_size, progress.quiet(), languages.task)
            segments = remove_loops(drop_doubled_words(fill(segments, redone, gaps)))
            gaps = uncovered(speech, segments)
        if gaps:
            logger.info("speech without words in the window ending at %.1f s: %s", window.end_s, _spans(gaps, offset))
        language, probability = dominant(stretches)
        return Heard(
            segments=[_absolute(segment, offset) for segment in segments],
            language=language or languages.forced,
            language_probability=probability,
            untranscribed=[Span(start=round(g.start + offset, 3), end=round(g.end + offset, 3)) for g in gaps],
        )

    def _languages(self, audio: Any, spans: list[Span], asked: Languages) -> list[Stretch]:
        """Each span's language: the forced one, English for an English-only model, else detected per stretch
        among the allowed ones (:mod:`worker.pre.languages`)."""
        for code in ([asked.forced] if asked.forced else []) + list(asked.candidates or []):
            if code not in self.known_languages:
                raise PermanentError(
                    ErrorCode.LANGUAGE_NOT_SUPPORTED, f"model {self.model_name} does not know language {code!r}"
                )
        if asked.task == "translate" and (self.known_languages == ("en",) or not translates(self.model_name)):
            raise PermanentError(ErrorCode.LANGUAGE_NOT_SUPPORTED, f"model {self.model_name} cannot translate")
        if asked.forced or self.known_languages == ("en",):
            return forced(spans, asked.forced or "en")
        allowed = list(asked.candidates or self.known_languages)
        return detected(spans, self._detect(audio), allowed) if len(allowed) > 1 else forced(spans, allowed[0])

    def _detect(self, audio: Any) -> Detect:
        """Whisper's language probabilities for a stretch of ``audio``: its encoder over the stretch alone (cost in
        proportion to it) or padded to 30 s, then the decoder's first step (faster-whisper's ``detect_language``
        does the same, padded, for the first 30 s of a file only)."""
        from faster_whisper.audio import pad_or_trim

        def detect(span: Span, padded: bool) -> dict[str, float]:
            piece = audio[round(span.start * SAMPLE_RATE) : round(span.end * SAMPLE_RATE)]
            features = self._model.feature_extractor(piece)
            frames = min(features.shape[-1] // 2 * 2, CHUNK_FRAMES)
            padded = padded or frames < MIN_UNPADDED_FRAMES
            encoded = self._model.encode(pad_or_trim(features) if padded else features[:, :frames])
            return {token[2:-2]: float(p) for token, p in self._model.model.detect_language(encoded)[0]}

        return detect

    def _decode(
        self,
        audio: Any,
        clips: list[tuple[str, Span]],
        stretches: list[Stretch],
        beam_size: int,
        progress: _Progress,
        task: str,
    ) -> list[Segment]:
        """Each language's clips in one batched pass in that language; every segment and word labelled with it."""
        segments: list[Segment] = []
        for language in dict.fromkeys(code for code, _ in clips):
            mine = [clip for code, clip in clips if code == language]
            decoded, _ = self._pass(audio, mine, language, beam_size, progress, task)
            segments += [
                _labelled(s, *language_at(Span(start=s.start, end=s.end), stretches, language)) for s in decoded
            ]
        return drop_doubled_words(sorted(segments, key=lambda s: (s.start, s.end)))

    def _pass(
        self,
        audio: Any,
        clips: list[Span],
        language: str | None,
        beam_size: int,
        progress: _Progress,
        task: str = "transcribe",
    ) -> tuple[list[Segment], Any]:
        """Decode ``clips`` of ``audio`` (times relative to it), ``batch_size`` at a time, with timestamps.

        Segments are cut into sentences by their words' times (:mod:`worker.post.resegment`) and come back sorted by
        time. No clips (a window without speech) decode nothing.
        """
        if not clips:
            return [], _NoSpeech(language)
        self._batched.last_speech_timestamp = 0.0  # left over by a window that was stopped mid-way
        pieces, info = self._batched.transcribe(
            audio,
            language=language,
            task=task,
            batch_size=self.batch_size,
            clip_timestamps=[{"start": c.start, "end": c.end} for c in clips],
            without_timestamps=False,
            beam_size=beam_size,
            word_timestamps=True,
            condition_on_previous_text=False,
            temperature=TEMPERATURE,  # no sampling fallback: it is not reproducible (module docstring)
        )
        segments: list[Segment] = []
        for piece in pieces:
            segments.extend(sentences(_segment(piece), language))
            progress.reached(piece.end)
        return drop_doubled_words(sorted(segments, key=lambda s: (s.start, s.end))), info


class _Progress:
    """Reports how far the first pass got and asks whether to go on, after each decoded segment. A window in two
    languages is decoded one language after the other, so the time reached only ever moves forward (the furthest
    clip decoded so far)."""

    def __init__(
        self,
        offset: float,
        keep_going: Callable[[], bool] | None,
        on_progress: Callable[[float], None] | None,
        window: Window,
    ) -> None:
        self.offset, self.keep_going, self.on_progress, self.window = offset, keep_going, on_progress, window
        self.furthest = 0.0

    def reached(self, t: float) -> None:
        self.furthest = max(self.furthest, t)
        if self.on_progress is not None:
            self.on_progress(self.furthest + self.offset)
        if self.keep_going is not None and not self.keep_going():
            raise Stopped(f"stopped after {t + self.offset:.1f} s of the window ending at {self.window.end_s:.1f} s")

    def quiet(self) -> _Progress:
        """The same cancel checks without progress reports: a redo pass goes back over time already reported."""
        return _Progress(self.offset, self.keep_going, None, self.window)


@dataclass(frozen=True)
class _NoSpeech:
    """What a pass over no clips reports: the language asked for, no probability."""

    language: str | None
    language_probability: float | None = None


def _spans(spans: list[Span], offset: float) -> str:
    return ", ".join(f"{s.start + offset:.2f}-{s.end + offset:.2f}" for s in spans)


def _segment(piece: Any) -> Segment:
    """faster-whisper's segment as ours, times still relative to the decoded audio."""
    words = [
        Word(start=w.start, end=w.end, word=w.word, probability=round(float(w.probability), 4))
        for w in (piece.words or [])
    ]
    return Segment(
        start=piece.start,
        end=piece.end,
        text=piece.text.strip(),
        words=words,
        avg_logprob=float(piece.avg_logprob),
        no_speech_prob=float(piece.no_speech_prob),
    )


def _labelled(segment: Segment, language: str | None, probability: float | None) -> Segment:
    """``segment`` and its words marked with the language it was decoded in."""
    label = {"language": language, "language_probability": probability}
    words = [w.model_copy(update=label) for w in segment.words]
    return segment.model_copy(update={**label, "words": words})


def _absolute(segment: Segment, offset: float) -> Segment:
    """``segment`` with its times moved by ``offset`` and rounded to the millisecond."""
    words = [
        w.model_copy(update={"start": round(w.start + offset, 3), "end": round(w.end + offset, 3)})
        for w in segment.words
    ]
    start, end = round(segment.start + offset, 3), round(segment.end + offset, 3)
    return segment.model_copy(update={"start": start, "end": end, "words": words})
