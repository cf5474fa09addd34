"""The worker's transcription run in-process on a local file: the windows as the pipeline cuts them, or one pass.

A worker does probe → ``read_window`` → ``Transcriber.transcribe`` on ranges of a blob; this does the same calls on a
local file, so its outputs are what workers would write (``SegmentResult``), without Azurite or queues. Used by
``tests/data/record_worker_outputs.py`` (fixtures for the deterministic stitching tests) and by
``bench/fidelity_spread.py`` (how much the model moves on its own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.audio.decode import read_window
from shared.audio.probe import probe
from shared.contracts import AudioInfo, SegmentResult, Window, Word
from shared.transcripts.windows import plan_windows
from worker.engines.whisper import ModelSpec, Transcriber

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLE_RATE = 16_000
# The end-to-end corpus: each clip and the text it speaks.
CORPUS = {
    "speech_16k_mono.wav": "speech.txt",
    "speech_44k_stereo.flac": "speech.txt",
    "speech.mp3": "speech.txt",
    "speech.m4a": "speech.txt",
    "speech.opus": "speech.txt",
    "long.flac": "long.txt",
}
# The two windowings of tests/e2e/test_pipeline.py: what customers get with 2 workers (>= 30 s windows, 2 s
# overlap), and short windows that cut even these clips at several seams, mid-sentence.
PLANS: dict[str, dict[str, Any]] = {
    "production": {"window_s": 300.0, "overlap_s": 2.0, "min_window_s": 30.0, "workers": 2},
    "short": {"window_s": 20.0, "overlap_s": 1.5, "min_window_s": 8.0, "workers": 2},
}
# The decoding options of the workers and of the single pass the tests compare them with.
OPTIONS: dict[str, Any] = {
    "beam_size": 5,
    "vad_filter": True,
    "word_timestamps": True,
    "condition_on_previous_text": False,
}


def transcriber(threads: int = 1, batch_size: int = 1) -> Transcriber:
    """tiny.en int8 on the CPU; one thread as each test worker runs (more threads are not bit-reproducible);
    ``batch_size`` > 1: the batched pipeline, as workers run by default."""
    return Transcriber(ModelSpec("tiny.en", "cpu", None, threads, batch_size))


def plan(path: Path, **planning: Any) -> tuple[AudioInfo, list[Window]]:
    """The probe's view of the file and the windows ``plan_windows`` cuts it into with these settings."""
    with path.open("rb") as source:
        info = probe(source, path.name)
    return info, plan_windows(info.duration_s, **planning)


def window_results(
    model: Transcriber, path: Path, info: AudioInfo, windows: list[Window], *, start_in_pause: bool = True
) -> list[SegmentResult]:
    """Each window transcribed as a worker would, in window order."""
    with path.open("rb") as source:
        return [
            transcribed(
                model, read_window(source, info, w.start_s, w.end_s), w, "recorded", "recording", start_in_pause
            )
            for w in windows
        ]


def transcribed(
    model: Transcriber, samples: Any, window: Window, job_id: str, worker_id: str, start_in_pause: bool = True
) -> SegmentResult:
    """One window's samples through the model, as the worker's result (no language given: a job's default)."""
    heard = model.transcribe(samples, window, start_in_pause=start_in_pause)
    return SegmentResult(
        job_id=job_id,
        index=window.index,
        window=window,
        language=heard.language,
        language_probability=heard.language_probability,
        segments=heard.segments,
        untranscribed=heard.untranscribed,
        model=model.model_name,
        device=model.device,
        compute_type=model.compute_type,
        decode_s=0.0,
        transcribe_s=0.0,
        worker_id=worker_id,
    )


def single_pass(model: Transcriber, path: Path, shift_s: float = 0.0) -> list[Word]:
    """faster-whisper on the whole file, as a user would run it; with ``shift_s``, that much digital silence is put
    in front of the audio first and taken off the times again (same speech, other frame alignment and context)."""
    audio: Any = str(path)
    if shift_s:
        import numpy as np
        from faster_whisper import decode_audio

        samples = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
        audio = np.concatenate([np.zeros(round(shift_s * SAMPLE_RATE), dtype=samples.dtype), samples])
    pieces, _ = model._model.transcribe(audio, **OPTIONS)
    return [
        Word(start=round(w.start - shift_s, 3), end=round(w.end - shift_s, 3), word=w.word, probability=w.probability)
        for piece in pieces
        for w in piece.words or []
    ]
