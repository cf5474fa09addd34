"""API and storage contracts, as pydantic models.

These models are the single source of truth for request validation, response bodies, the persisted job record
and (later) the OpenAPI documents; keep field names stable, they are a public contract.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from shared.blocks import MAX_BLOCK_SIZE, MIB

LanguageCode = Annotated[str, StringConstraints(pattern=r"^(auto|[a-z]{2,3})$")]
Task = Literal["transcribe", "translate"]


def _distinct(codes: list[str] | None) -> list[str] | None:
    """Candidates in the caller's order, each once (shared/languages.py counts the different ones: a repeat adds
    nothing, and fewer than 2 different ones is refused there with its own code)."""
    return None if codes is None else list(dict.fromkeys(codes))


LanguageCandidates = Annotated[list[LanguageCode], AfterValidator(_distinct)]
MetadataKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
# Controls (NUL, line breaks), lone surrogates and invisible format characters: a NUL or line break forges log lines
# and breaks other readers of the job record, a bidi override (U+202E) makes "exe.wav" display as "vaw.exe". The
# zero-width joiner (U+200D) alone is kept: emoji sequences need it and it reorders nothing.
_REFUSED_IN_TEXT = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_ZERO_WIDTH_JOINER = "\u200d"


def _printable(value: str) -> str:
    """Refuse a metadata value that carries a control or invisible character (shown to the caller by code point)."""
    bad = next(
        (c for c in value if c != _ZERO_WIDTH_JOINER and unicodedata.category(c) in _REFUSED_IN_TEXT),
        None,
    )
    if bad is not None:
        raise ValueError(f"contains a control or invisible character (U+{ord(bad):04X})")
    return value


MetadataValue = Annotated[str, StringConstraints(max_length=256), AfterValidator(_printable)]


UploadState = Literal["open", "committed", "expired", "closed"]
# What identifies one version of the customer's file (the client's business: ours hashes its size, modified time
# and sampled blocks); opaque here, compared for equality only.
FileFingerprint = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{8,128}$")]
BlockIdFormat = Literal[
    "base64('blk-' + zero-padded 6-digit block index)",
    "base64('blk-' + zero-padded 6-digit block index + '-' + block_id_tag)",
]
PLAIN_BLOCK_IDS: BlockIdFormat = "base64('blk-' + zero-padded 6-digit block index)"
TAGGED_BLOCK_IDS: BlockIdFormat = "base64('blk-' + zero-padded 6-digit block index + '-' + block_id_tag)"


class JobStatus(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    QUEUED = "queued"
    TRANSCRIBING = "transcribing"
    MERGING = "merging"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


# Containers hold a few audio streams (a film's language tracks, commentary); more than this is a mistake.
MAX_AUDIO_STREAM = 63


class UploadRequest(BaseModel):
    """Body of ``POST /api/uploads``; unknown fields are refused so typos don't pass silently."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    filename: str = Field(min_length=1, max_length=1024, description="The file's base name, with extension")
    size_bytes: int = Field(gt=0, description="Exact size of the file in bytes")
    content_type: str | None = Field(default=None, max_length=255, description="MIME type; optional")
    language: LanguageCode | None = Field(
        default=None,
        description="The language spoken: absent or 'auto' detects it (per stretch of speech); one Whisper code "
        "(ISO 639-1, e.g. 'de') forces it. Refused with unknown_language or language_not_supported (422)",
    )
    language_candidates: LanguageCandidates | None = Field(
        default=None,
        description="Detect among these only (2 to 10 different Whisper codes, e.g. ['de', 'en', 'fr'], as Azure "
        "Speech's candidate locales); not with a forced language (language_conflict). Refused with "
        "invalid_language_candidates, unknown_language or language_not_supported (422)",
    )
    task: Task = Field(
        default="transcribe",
        description="transcribe (default: the text in the language spoken) or translate (Whisper's own translation "
        "to English; a multilingual model only, else language_not_supported)",
    )
    audio_stream: int | None = Field(
        default=None,
        ge=0,
        le=MAX_AUDIO_STREAM,
        description=(
            "Which of the file's audio streams to transcribe, counted from 0 among its audio streams (a video's "
            "second language track: 1). Default: the file's default stream when it has sound, else the first that "
            "does. A number the file does not have fails the job with audio_stream_not_found"
        ),
    )
    block_size_bytes: int | None = Field(
        default=None, ge=MIB, le=MAX_BLOCK_SIZE, description="Preferred block size; the service may raise it"
    )
    metadata: dict[MetadataKey, MetadataValue] | None = Field(
        default=None, max_length=16, description="Your own tags, returned with the job"
    )
    callback_url: str | None = Field(
        default=None, max_length=2048, description="https URL to POST a signed event to when the job ends"
    )
    file_fingerprint: FileFingerprint | None = Field(
        default=None,
        description=(
            "Identifies this version of the file (8-128 of A-Z a-z 0-9 _ . : -). With it, block ids carry "
            "upload.block_id_tag, a resume must present the same fingerprint, and a commit of blocks that are not "
            "all this session's is refused with file_changed"
        ),
    )


class ReceivedBlocks(BaseModel):
    blocks: int = 0
    bytes: int = 0
    ranges: list[tuple[int, int]] = Field(
        default_factory=list, description="Inclusive runs of block indices already staged with the right size"
    )


class UploadTarget(BaseModel):
    """How to put the bytes: Put Block to ``url`` for each block, then Put Block List."""

    url: str = Field(description="Blob URL with a SAS that may only create and write this one blob")
    expires_at: datetime
    block_size: int
    block_count: int
    block_id_format: BlockIdFormat = PLAIN_BLOCK_IDS
    block_id_tag: str | None = Field(
        default=None, description="Present when the session has a file_fingerprint: part of every block id"
    )
    commit_content_type: str = Field(description="Send as x-ms-blob-content-type with Put Block List")


class UploadSession(BaseModel):
    """Returned by ``POST /api/uploads`` (201) and ``GET /api/uploads/{job_id}`` (200)."""

    job_id: str
    status: JobStatus
    upload_state: UploadState
    filename: str
    size_bytes: int
    content_type: str
    language: str | None
    language_candidates: list[str] | None = Field(default=None, description="As sent when the session was created")
    task: Task = "transcribe"
    audio_stream: int | None = Field(default=None, description="As sent when the session was created")
    metadata: dict[str, str] | None
    file_fingerprint: str | None = Field(default=None, description="As sent when the session was created")
    created_at: datetime
    session_expires_at: datetime
    upload: UploadTarget | None = Field(description="Present while the session is open; a fresh SAS each call")
    received: ReceivedBlocks
    committed_bytes: int = 0
    status_url: str
    upload_status_url: str
    webhook_secret: str | None = Field(
        default=None, description="Only in the creation response: verifies webhook signatures; store it"
    )


class WebhookState(BaseModel):
    status: Literal["pending", "delivered", "failed"] = "pending"
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


class JobError(BaseModel):
    code: str
    message: str


class JobTrace(BaseModel):
    """The job's place in a trace: its own span's context (the span is written when the job ends) and the
    caller's, when ``POST /api/uploads`` came with a ``traceparent`` (``shared/telemetry/tracing.py``)."""

    job: str
    caller: str | None = None
    started_at: datetime | None = Field(default=None, description="when the request that created the job arrived")


class JobRecord(BaseModel):
    """The persisted job: one JSON blob per job, updated with ETag concurrency."""

    job_id: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = Field(
        default=None, description="when the job reached its final status (stamped once by JobStore.update)"
    )
    filename: str
    blob_name: str = Field(description="Path of the audio inside the uploads container")
    size_bytes: int
    content_type: str
    language: str | None = None
    language_candidates: list[str] | None = Field(default=None, description="detect among these only, as asked")
    task: Task = Field(default="transcribe", description="as asked: transcribe, or translate to English")
    audio_stream: int | None = Field(default=None, description="the caller's pick among the file's audio streams")
    metadata: dict[str, str] | None = None
    block_size: int
    session_expires_at: datetime
    request_fingerprint: str
    file_fingerprint: str | None = Field(default=None, description="the customer's file version, as sent at creation")
    owner: str = "key"
    callback_url: str | None = None
    callback_secret: str | None = None
    webhook: WebhookState | None = None
    committed_at: datetime | None = None
    # The committed version the job reads: its ETag and the snapshot taken of it (an overwrite cannot touch it).
    source: dict[str, str] | None = None
    error: JobError | None = None
    result: dict[str, Any] | None = None
    trace: JobTrace | None = None

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)
