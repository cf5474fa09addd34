"""The contracts between orchestrator, workers and merge: queue messages, segment results, the transcript.

Functions and the GPU worker both import these, so the two halves cannot drift (a contract test checks that the
worker reads what the dispatcher writes). Times are seconds from the start of the source file, never from the
start of a window.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Fixed, because a queue trigger's decorator needs it at import time, before any setting is read.
SEGMENT_RESULTS_QUEUE = "segment-results"
# ends and purges a job's batch sub-orchestrations (functions/pipeline/batch_cleanup.py)
BATCH_CLEANUP_QUEUE = "batch-cleanup"


class _Contract(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AudioInfo(_Contract):
    """What the probe learned from the file's headers (no full decode)."""

    format: str = Field(description="container: wav, flac, ogg, mp3, mp4, webm, ...")
    codec: str
    duration_s: float
    sample_rate: int
    channels: int
    decoder: str = Field(description="'soundfile' (seekable PCM-like formats) or 'av' (compressed containers)")
    declared_duration_s: float | None = Field(
        default=None,
        description="what the headers declared, when it could not be true and duration_s was measured instead "
        "(shared/audio/duration.py); None when the headers were believed",
    )
    stream_index: int | None = Field(
        default=None,
        description="the container's index of the audio stream to transcribe, when it holds several "
        "(shared/audio/streams.py); None: its only audio stream",
    )


class Window(_Contract):
    """A slice to transcribe. Words whose midpoint falls in [keep_start_s, keep_end_s) belong to this window."""

    index: int
    start_s: float
    end_s: float
    keep_start_s: float
    keep_end_s: float


class SegmentJob(_Contract):
    """A message on ``segment-jobs``: everything a worker needs, including where to write."""

    job_id: str
    index: int
    attempt: int = 1
    source_container: str
    source_blob: str
    source_etag: str | None = Field(default=None, description="the committed version; a replaced blob is an error")
    source_snapshot: str | None = Field(default=None, description="the snapshot of that version, which is what is read")
    audio: AudioInfo
    window: Window
    model: str
    language: str | None = Field(default=None, description="the language to force (None: detect)")
    language_candidates: list[str] | None = Field(
        default=None, description="detect among these only (shared/languages.py); None: among all the model knows"
    )
    task: Literal["transcribe", "translate"] = "transcribe"
    beam_size: int = 5
    vad_filter: bool = True
    result_container: str
    result_blob: str
    results_queue: str = SEGMENT_RESULTS_QUEUE
    traceparent: str | None = Field(default=None, description="W3C trace context of the dispatch: the job's trace")
    reply_to: str | None = Field(default=None, description="the orchestration waiting for this segment (its batch)")
    dispatched_at: datetime | None = Field(
        default=None, description="when it was sent: the queue's insertion time has whole seconds only"
    )
    released: int = Field(
        default=0,
        description="times a worker put it back unworked, short of time before its deadline: not attempts, so "
        "the poison count leaves them out (worker/segment_worker.py, SegmentWorker._release)",
    )


class Word(_Contract):
    start: float
    end: float
    word: str
    probability: float
    language: str | None = Field(default=None, description="the language of the stretch this word was decoded in")
    language_probability: float | None = Field(
        default=None, description="how sure the detection was (None: the language was forced or the model knows one)"
    )


class Segment(_Contract):
    start: float
    end: float
    text: str
    words: list[Word]
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    language: str | None = Field(default=None, description="the language this stretch was decoded in")
    language_probability: float | None = Field(
        default=None, description="how sure the detection was (None: the language was forced or the model knows one)"
    )

    def with_words(self, words: list[Word]) -> Segment:
        """This segment cut down to ``words`` (some of its own, in order): times and text follow the words."""
        if len(words) == len(self.words):
            return self
        text = "".join(w.word for w in words).strip()
        return self.model_copy(update={"start": words[0].start, "end": words[-1].end, "text": text, "words": words})


class Span(_Contract):
    """A stretch of the recording, in seconds from the start of the file."""

    start: float
    end: float


class JobWarning(_Contract):
    """Something a completed job's transcript must not hide. The code (duration_mismatch, no_words_heard) is
    stable: branch on it; the message says what was found."""

    code: str
    message: str


class SegmentResult(_Contract):
    """Written by a worker to ``segments/{job_id}/{index}.json``; times already absolute."""

    job_id: str
    index: int
    window: Window
    language: str | None
    language_probability: float | None = None
    segments: list[Segment]
    untranscribed: list[Span] = Field(
        default_factory=list,
        description="speech the VAD found in the window that gave no words after every attempt"
        " (worker/post/coverage.py)",
    )
    audio_end_s: float | None = Field(
        default=None,
        description="where the file's audio ran out inside this window, when it did so well before the window's end: "
        "the file is shorter than its headers say (None: the window was whole)",
    )
    peak_dbfs: float | None = Field(
        default=None, description="the window's loudest sample, dB of full scale (None: digital silence, or no audio)"
    )
    model: str
    device: str
    compute_type: str
    decode_s: float
    transcribe_s: float
    worker_id: str


class LanguageSeconds(_Contract):
    """How much of the speech was in one language: the seconds its segments cover."""

    language: str
    seconds: float


class SegmentDone(_Contract):
    """A message on ``segment-results``: the worker's report; the orchestrator turns it into an event."""

    job_id: str
    index: int
    attempt: int
    ok: bool
    result_blob: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    audio_s: float = 0.0
    transcribe_s: float = 0.0
    languages: dict[str, float] = Field(
        default_factory=dict, description="seconds of this window's kept speech in each language heard"
    )
    traceparent: str | None = Field(default=None, description="W3C trace context of the worker's segment span")
    reply_to: str | None = Field(default=None, description="the orchestration to tell (the job's, when not set)")


class Transcript(_Contract):
    """``results/{job_id}/transcript.json``."""

    job_id: str
    filename: str
    language: str | None = Field(description="the language most of the speech was in")
    languages: list[LanguageSeconds] = Field(
        default_factory=list, description="every language heard, with the seconds of speech in it, most first"
    )
    task: Literal["transcribe", "translate"] = Field(
        default="transcribe", description="translate: the text is Whisper's English translation of the speech"
    )
    duration_s: float
    model: str
    text: str
    segments: list[Segment]
    untranscribed: list[Span] = Field(
        default_factory=list,
        description="stretches where the VAD heard speech but no attempt gave words: nothing is dropped silently",
    )
    timings: dict[str, float] = Field(default_factory=dict)
    warnings: list[JobWarning] = Field(
        default_factory=list,
        description="what the job's result must not hide (shared/transcripts/warnings.py); [] is good",
    )


class BatchCleanup(_Contract):
    """``clean_up_batches``' input, and the ``batch-cleanup`` queue message
    (``functions/pipeline/batch_cleanup.py``)."""

    job_id: str
    batches: int
    traceparent: str | None = None

    def message(self) -> bytes:
        return self.model_dump_json(include={"job_id", "batches"}).encode()

    def wire(self) -> dict[str, Any]:
        """The JSON form Durable stores, as the pipeline's payloads give it (``functions/pipeline/payloads.py``)."""
        return self.model_dump(mode="json")
