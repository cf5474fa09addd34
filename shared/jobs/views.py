"""What customers see of a job: the stable status contract, built from the job record and the orchestration's
custom status. Durable's own status, URLs and keys never leak through.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from shared.azure.paths import transcript_blob
from shared.azure.sas import BlobSigner, read_permission
from shared.contracts import JobWarning, LanguageSeconds
from shared.jobs.records import JobError, JobRecord, JobStatus, Task, WebhookState
from shared.transcripts.formats import EXTENSIONS

RUNNING = frozenset({JobStatus.AWAITING_UPLOAD, JobStatus.QUEUED, JobStatus.TRANSCRIBING, JobStatus.MERGING})
READ_LINK_TTL = timedelta(hours=1)
FORMATS = EXTENSIONS  # the links a completed job carries: one per format (shared/transcripts/formats.py)


class Progress(BaseModel):
    segments_done: int = 0
    segments_total: int = 0
    audio_seconds_done: float = 0.0
    audio_seconds_total: float = 0.0
    percent: float = 0.0
    eta_s: float | None = None
    waiting_for_worker: bool = Field(
        default=False,
        description="true while every segment the job has sent out still waits in the shared queue, behind other "
        "work, for a worker to take it: percent and eta_s cannot move until one does",
    )
    segments_waiting: int = Field(default=0, description="segments sent out that no worker has taken yet")
    queue_backlog: int | None = Field(
        default=None,
        description="about how many segments, of all jobs, wait in the shared queue (this job's among them); "
        "null when none of this job's waits or the queue could not be read",
    )
    languages: list[LanguageSeconds] = Field(
        default_factory=list,
        description="the languages heard so far, with the seconds of speech in each, most first (finished "
        "segments only)",
    )


class JobResult(BaseModel):
    duration_s: float
    language: str | None = Field(description="the language most of the speech was in")
    languages: list[LanguageSeconds] = Field(
        default_factory=list, description="every language heard, with the seconds of speech in it, most first"
    )
    task: Task = Field(default="transcribe", description="translate: the text is Whisper's English translation")
    words: int
    segments: int
    untranscribed: int = Field(
        default=0,
        description="stretches where speech was heard but no words came back (listed in transcript.json); 0 is good",
    )
    untranscribed_s: float = Field(default=0.0, description="their length in seconds, together")
    model: str
    turnaround_s: float | None = Field(description="seconds from the committed upload to the finished transcript")
    rtfx: float | None = Field(description="audio seconds per second of turnaround")
    warnings: list[JobWarning] = Field(
        default_factory=list,
        description="what the transcript must not hide: duration_mismatch (the file holds less audio than its "
        "headers declare), no_words_heard (no words from audio that is not silent); [] is good",
    )
    transcripts: dict[str, str] = Field(description="short-lived read links, one per format")
    links_expire_at: datetime


class JobView(BaseModel):
    job_id: str
    status: JobStatus
    filename: str
    size_bytes: int
    language: str | None = Field(description="as asked: a forced language, 'auto' or null (detect)")
    language_candidates: list[str] | None = Field(default=None, description="as asked: detect among these only")
    task: Task = Field(default="transcribe", description="as asked: transcribe, or translate to English")
    metadata: dict[str, str] | None
    created_at: datetime
    updated_at: datetime
    committed_at: datetime | None
    progress: Progress | None
    result: JobResult | None
    error: JobError | None
    webhook: WebhookState | None = None
    status_url: str


class JobPage(BaseModel):
    jobs: list[JobView]
    continuation: str | None = Field(description="pass back as ?continuation= for the next page; null at the end")
    next_url: str | None


def job_view(
    record: JobRecord, custom_status: dict[str, Any] | None, base_url: str, signer: BlobSigner, results_container: str
) -> JobView:
    progress = Progress.model_validate(custom_status) if record.status in RUNNING and custom_status else None
    result = _result(record, signer, results_container) if record.status == JobStatus.COMPLETED else None
    return JobView(
        job_id=record.job_id,
        status=record.status,
        filename=record.filename,
        size_bytes=record.size_bytes,
        language=record.language,
        language_candidates=record.language_candidates,
        task=record.task,
        metadata=record.metadata,
        created_at=record.created_at,
        updated_at=record.updated_at,
        committed_at=record.committed_at,
        progress=progress,
        result=result,
        error=record.error,
        webhook=record.webhook,
        status_url=f"{base_url}/api/jobs/{record.job_id}",
    )


def retry_after_s(view: JobView) -> int:
    """Poll often near the end and rarely while far from it; never hammer, never sleep through completion."""
    if view.status == JobStatus.AWAITING_UPLOAD:
        return 30
    eta = view.progress.eta_s if view.progress else None
    return 5 if eta is None else int(min(60, max(2, eta / 4)))


def _result(record: JobRecord, signer: BlobSigner, results_container: str) -> JobResult | None:
    summary = record.result or {}
    if not summary:
        return None
    expiry = datetime.now(UTC) + READ_LINK_TTL
    links = {
        ext: signer.blob_url(results_container, transcript_blob(record.job_id, ext), read_permission(), expiry)
        for ext in FORMATS
    }
    ended = record.finished_at or record.updated_at  # records written before finished_at existed
    turnaround = (ended - record.committed_at).total_seconds() if record.committed_at else None
    duration = float(summary.get("duration_s", 0.0))
    return JobResult(
        duration_s=duration,
        language=summary.get("language"),
        languages=[LanguageSeconds.model_validate(entry) for entry in summary.get("languages") or []],
        task=summary.get("task") or record.task,
        words=int(summary.get("words", 0)),
        segments=int(summary.get("segments", 0)),
        untranscribed=int(summary.get("untranscribed", 0)),
        untranscribed_s=float(summary.get("untranscribed_s", 0.0)),
        model=str(summary.get("model", "")),
        turnaround_s=turnaround,
        rtfx=round(duration / turnaround, 2) if turnaround else None,
        warnings=[JobWarning.model_validate(w) for w in summary.get("warnings") or []],
        transcripts=links,
        links_expire_at=expiry,
    )
