"""Every change of a job's status, in one place: the only module that writes ``JobRecord.status``.

A job moves ``awaiting_upload`` → ``queued`` → ``transcribing`` → ``merging`` → ``completed``, or ends early as
``failed`` or ``canceled``. Before this module each writer (the blob trigger, the status API, the cancel, the
orchestration's activities) made its own copy of the record and they disagreed: some stamped ``updated_at``, some
did not. Here every transition is a pure function from a record to the next (the caller stores it with
``JobStore.update``, which retries on a concurrent write, so a transition must not read anything but its
arguments), each stamps ``updated_at`` with the ``now`` it is given, and two rules hold for all of them:

- a finished job (completed, failed, canceled) never moves again; a transition applied to one returns it as is,
  so a retried activity or a late writer changes nothing;
- the transitions that belong to the upload (claim, refuse, expire) apply only to a job still awaiting it, so a
  cancel or another delivery that got there first wins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.errors import ErrorCode
from shared.jobs.records import JobError, JobRecord, JobStatus


def opened(now: datetime, **fields: Any) -> JobRecord:
    """A new job, waiting for its upload (``fields``: every other field of the record)."""
    return JobRecord(status=JobStatus.AWAITING_UPLOAD, created_at=now, updated_at=now, **fields)


def claimed(record: JobRecord, committed_at: datetime, source: dict[str, str], now: datetime) -> JobRecord:
    """``awaiting_upload`` → ``queued``, with the frozen version of the upload the job will read."""
    if record.status != JobStatus.AWAITING_UPLOAD:
        return record
    return _moved(record, JobStatus.QUEUED, now, committed_at=committed_at, source=source)


def refused(record: JobRecord, code: ErrorCode, message: str, now: datetime) -> JobRecord:
    """The committed upload is not the session's (size, blocks): final, without transcribing anything."""
    if record.status != JobStatus.AWAITING_UPLOAD:
        return record
    return _moved(record, JobStatus.FAILED, now, error=JobError(code=code.slug, message=message))


def expired(record: JobRecord, now: datetime) -> JobRecord:
    """The upload session ran out with nothing committed: final, ``upload_expired``."""
    return refused(record, ErrorCode.UPLOAD_EXPIRED, "the upload session expired before a commit", now)


def advanced(
    record: JobRecord,
    status: JobStatus,
    now: datetime,
    error: JobError | None = None,
    result: dict[str, Any] | None = None,
) -> JobRecord:
    """The orchestration's own moves (transcribing, merging, completed, failed): an error or a result given is
    kept, one not given leaves the record's as it was."""
    if record.finished:
        return record
    error = error if error is not None else record.error
    return _moved(record, status, now, error=error, result=result if result is not None else record.result)


def started(record: JobRecord, now: datetime) -> JobRecord:
    return advanced(record, JobStatus.TRANSCRIBING, now)


def merging(record: JobRecord, now: datetime) -> JobRecord:
    return advanced(record, JobStatus.MERGING, now)


def completed(record: JobRecord, result: dict[str, Any], now: datetime) -> JobRecord:
    """The transcript is written: the job is done, its summary the result."""
    return advanced(record, JobStatus.COMPLETED, now, result=result)


def failed(record: JobRecord, code: ErrorCode, message: str, now: datetime) -> JobRecord:
    return advanced(record, JobStatus.FAILED, now, error=JobError(code=code.slug, message=message))


def canceled(record: JobRecord, now: datetime) -> JobRecord:
    """The customer's cancel: any job not finished yet, whatever stage it is in."""
    return advanced(record, JobStatus.CANCELED, now)


def ends(before: JobRecord, after: JobRecord) -> bool:
    """Did this change finish the job? (What counts the job's metrics once: a retried write finds it ended.)"""
    return not before.finished and after.finished


def shown_as_queued(record: JobRecord) -> JobRecord:
    """How a job whose upload is committed but not yet claimed by the blob trigger is shown to its pollers (never
    stored): queued, so they do not wait as if nothing had been sent."""
    if record.status != JobStatus.AWAITING_UPLOAD:
        return record
    return record.model_copy(update={"status": JobStatus.QUEUED})


def _moved(record: JobRecord, status: JobStatus, now: datetime, **fields: Any) -> JobRecord:
    return record.model_copy(update={"status": status, "updated_at": now, **fields})
