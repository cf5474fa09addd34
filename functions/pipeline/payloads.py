"""What crosses Durable's boundaries, typed: the orchestration's input, activity and sub-orchestration payloads and
their results.

Durable stores each of these as JSON in an instance's history and hands the same JSON back on every replay, so
each side serialises explicitly: the sender passes ``payload.wire()`` (``model_dump(mode="json")``), the receiver
``Model.model_validate(value)``. A deployment is upgraded while orchestrations are in flight, and those replay
with the inputs and results their older version wrote; so every model ignores keys it does not know, and a key
added later has a default (for the tunables, the app's own default from ``shared/config.py``) rather than
failing an old instance.

Error codes travel as their slug and come back as ``ErrorCode`` members (:data:`Code`), so nobody reads a code
out of a message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from shared.config import setting_default
from shared.contracts import AudioInfo, Window
from shared.errors import ErrorCode
from shared.jobs.records import JobStatus


def _member(value: Any) -> ErrorCode:
    return value if isinstance(value, ErrorCode) else ErrorCode.from_slug(str(value))


Code = Annotated[ErrorCode, BeforeValidator(_member), PlainSerializer(lambda code: code.slug, return_type=str)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    def wire(self) -> dict[str, Any]:
        """The JSON form Durable stores (and an activity or orchestrator receives)."""
        return self.model_dump(mode="json")


class Failure(Payload):
    """Why a job failed, as its record will say it."""

    code: Code
    message: str


class Failed(Payload):
    """What an activity returns when it fails for good (``functions/pipeline/failures.py``): a retry cannot help, so it
    does not raise, and the orchestration reads the code from here."""

    failure: Failure


class JobRef(Payload):
    """What any step needs to name the job and place its spans."""

    job_id: str
    filename: str
    model: str = setting_default("model")
    language: str | None = Field(default=None, description="the language to force (None: detect)")
    language_candidates: list[str] | None = Field(default=None, description="detect among these only")
    task: Literal["transcribe", "translate"] = "transcribe"
    trace: dict[str, str | None] | None = Field(default=None, description="functions/pipeline/ingest.py: job_trace")

    @property
    def activity_parent(self) -> str | None:
        """The orchestration span's context: the parent of the activities' spans."""
        return (self.trace or {}).get("orchestration")


class AudioSource(JobRef):
    """Where the job's audio is: the committed version, frozen as a snapshot (older jobs: pinned by ETag)."""

    container: str
    blob: str
    etag: str | None = None
    snapshot: str | None = None
    size_bytes: int
    audio_stream: int | None = Field(default=None, description="the caller's pick, else the stream with sound")


class JobInput(AudioSource):
    """The ``transcription`` orchestration's input (built by ``functions/pipeline/ingest.py``:
    ``orchestration_input``)."""

    committed_at: datetime = Field(description="when the upload was committed: the clock for progress and ETA")
    window_s: float = setting_default("segment_window_s")
    overlap_s: float = setting_default("segment_overlap_s")
    min_window_s: float = setting_default("segment_min_window_s")
    workers: int = setting_default("expected_workers")
    segment_timeout_s: float = setting_default("segment_timeout_s")
    segment_queue_timeout_s: float = setting_default("segment_queue_timeout_s")
    max_attempts: int = setting_default("segment_max_attempts")
    batch_size: int = setting_default("segment_batch_size")
    callback: bool = False
    webhook_attempts: int = setting_default("webhook_attempts")
    webhook_backoff_s: float = setting_default("webhook_backoff_s")


class StatusUpdate(Payload):
    """``set_job_status``: move the record along (``shared/jobs/lifecycle.py``)."""

    job_id: str
    status: JobStatus
    traceparent: str | None = None
    error: Failure | None = None
    result: dict[str, Any] | None = None


class BatchRequest(Payload):
    """``transcribe_batch``: windows ``first`` to ``stop - 1`` of ``count``; ``ahead`` batches queued before it."""

    job: JobInput
    audio: AudioInfo
    count: int
    first: int
    stop: int
    ahead: int = 1
    traceparent: str | None = None


class BatchOutcome(Payload):
    """What a batch returns: its totals, or why it failed (``ok`` false, ``error`` set)."""

    ok: bool = True
    segments: int = 0
    audio_s: float = 0.0
    transcribe_s: float = 0.0
    done: int = 0
    languages: dict[str, float] = Field(
        default_factory=dict, description="seconds of the batch's speech per language (shared/jobs/progress.py)"
    )
    error: Failure | None = None


class DispatchRequest(Payload):
    """``dispatch_segments``: one message per window, replies to ``reply_to`` (the batch)."""

    job: AudioSource
    audio: AudioInfo
    windows: list[Window]
    attempts: dict[str, int]
    reply_to: str | None = None
    traceparent: str | None = None


class SightingsRequest(Payload):
    """``segment_sightings``: the pending segments and their attempts, and what counts as silent."""

    job_id: str
    attempts: dict[str, int]
    silent_after_s: float


class Sightings(Payload):
    working: list[int] = Field(default_factory=list)
    silent: list[int] = Field(default_factory=list)
    untaken: list[int] = Field(default_factory=list)


class MergeRequest(Payload):
    """``merge_transcript``: stitch ``segments`` results into the transcripts."""

    job: JobRef
    audio: AudioInfo
    segments: int
    timings: dict[str, float] = Field(default_factory=dict)


class WebhookRequest(Payload):
    """``deliver_webhook``: one attempt; ``final`` when no retry follows."""

    job_id: str
    kind: Literal["completed", "failed"]
    final: bool
    traceparent: str | None = None
