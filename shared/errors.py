"""Every error the service reports, as data with a stable code.

The HTTP layer turns a :class:`ServiceError` into an RFC 9457 ``application/problem+json`` body; activities and
workers use :attr:`ServiceError.retryable` to decide between "let Durable/queue retries handle it" and "fail the
job now". Codes are a public contract (customers and Logic Apps branch on them): never rename one.

Tree::

    ServiceError                      code, HTTP status, title, detail, extra members
    ├── PermanentError                bad input or state; retrying cannot help
    └── TransientError                storage or network trouble; safe to retry
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorCode(Enum):
    """Catalogue of codes: value = (HTTP status, short human title)."""

    INVALID_JSON = (400, "The request body is not valid JSON")
    VALIDATION_ERROR = (422, "The request does not match the schema")
    REQUEST_TOO_LARGE = (413, "The request body is too large")
    FILE_TOO_LARGE = (413, "The file is larger than this service accepts")
    UNSUPPORTED_FORMAT = (415, "The file extension is not a supported audio format")
    UNSUPPORTED_MEDIA_TYPE = (415, "The content type is not a supported audio type")
    CONTENT_TYPE_MISMATCH = (422, "The content type does not match the file extension")
    INVALID_FILENAME = (422, "The file name is not acceptable")
    INVALID_CALLBACK_URL = (422, "The callback URL is not one this service may call")
    INVALID_IDEMPOTENCY_KEY = (400, "The Idempotency-Key header is not acceptable")
    IDEMPOTENCY_KEY_REUSED = (422, "The Idempotency-Key was already used with a different request")
    JOB_NOT_FOUND = (404, "No job with this id")
    METHOD_NOT_ALLOWED = (405, "The method is not allowed on this resource")
    JOB_FAILED = (422, "The job failed")
    JOB_CANCELED = (409, "The job was canceled")
    JOB_FINISHED = (409, "The job has already finished")
    TRANSCRIPT_NOT_READY = (409, "The transcript is not ready")
    CORRUPT_AUDIO = (422, "The audio could not be decoded")
    EMPTY_AUDIO = (422, "The file holds no audio")
    SEGMENT_TIMEOUT = (504, "A segment was not transcribed in time")
    SEGMENT_FAILED = (500, "A segment failed on every attempt")
    SIZE_MISMATCH = (422, "The uploaded file's size differs from the announced size")
    UPLOAD_EXPIRED = (422, "The upload session expired before the file was committed")
    SOURCE_CHANGED = (409, "The uploaded file was replaced while it was being transcribed")
    FILE_CHANGED = (409, "The file is not the one this upload session was opened for")
    AUDIO_STREAM_NOT_FOUND = (422, "The file has no audio stream with the number asked for")
    UNKNOWN_LANGUAGE = (422, "The language code is not one Whisper knows")
    LANGUAGE_NOT_SUPPORTED = (422, "The service's model cannot transcribe or translate this language")
    INVALID_LANGUAGE_CANDIDATES = (422, "language_candidates must name 2 to 10 different languages")
    LANGUAGE_CONFLICT = (422, "A forced language and language candidates were both given")
    TRANSCRIPTION_FAILED = (500, "Transcription failed")
    ORCHESTRATION_LOST = (500, "The job's orchestration stopped without finishing it")
    STORAGE_UNAVAILABLE = (503, "Storage is temporarily unavailable")
    INTERNAL_ERROR = (500, "Internal error")
    # Warnings: a completed job carries these in result.warnings and transcript.json (shared/transcripts/warnings.py);
    # the status is what they would be as errors, never sent.
    DURATION_MISMATCH = (422, "The file holds less audio than its headers declare")
    NO_WORDS_HEARD = (422, "The audio is not silent, but no words were heard")
    # Telemetry only: the error code on a worker's segment span when an attempt failed in a way another attempt may
    # not (the message reappears and is retried); never a job's code, never sent.
    SEGMENT_RETRY = (503, "A segment attempt failed and will be retried")

    @property
    def status(self) -> int:
        return self.value[0]

    @property
    def title(self) -> str:
        return self.value[1]

    @property
    def slug(self) -> str:
        return self.name.lower()

    @classmethod
    def from_slug(cls, slug: str | None) -> ErrorCode:
        """The member a code names: codes travel between processes as their slug (JSON), and come back as members
        here. A code this catalogue does not hold (none is sent today) reads as ``transcription_failed``."""
        member = cls.__members__.get((slug or "").upper())
        return member if member is not None else cls.TRANSCRIPTION_FAILED


class ServiceError(Exception):
    """An error with a stable code; ``extra`` becomes extension members of the problem body."""

    retryable = False

    def __init__(self, code: ErrorCode, detail: str, **extra: Any) -> None:
        super().__init__(f"{code.slug}: {detail}")
        self.code = code
        self.detail = detail
        self.extra = extra

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """RFC 9457 body; ``type`` is a stable URN so clients can branch on it as well as on ``code``."""
        body: dict[str, Any] = {
            "type": f"urn:transcription:error:{self.code.slug}",
            "title": self.code.title,
            "status": self.code.status,
            "detail": self.detail,
            "code": self.code.slug,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class PermanentError(ServiceError):
    """Bad input or a state that retrying cannot fix."""


class TransientError(ServiceError):
    """Storage or network trouble: the same call may succeed later."""

    retryable = True

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(ErrorCode.STORAGE_UNAVAILABLE, detail, **extra)
