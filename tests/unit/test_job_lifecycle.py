"""shared/jobs/lifecycle.py: every transition of a job's status, as pure functions over the record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import ErrorCode
from shared.jobs import lifecycle as life
from shared.jobs.records import JobError, JobRecord, JobStatus
from tests.support.records import job_record

BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
NOW = BEFORE + timedelta(minutes=5)
SOURCE = {"etag": "e", "snapshot": "s"}

Transition = Callable[[JobRecord], JobRecord]
TRANSITIONS: dict[str, Transition] = {
    "claimed": lambda r: life.claimed(r, NOW, SOURCE, NOW),
    "refused": lambda r: life.refused(r, ErrorCode.SIZE_MISMATCH, "short", NOW),
    "expired": lambda r: life.expired(r, NOW),
    "started": lambda r: life.started(r, NOW),
    "merging": lambda r: life.merging(r, NOW),
    "completed": lambda r: life.completed(r, {"words": 3}, NOW),
    "failed": lambda r: life.failed(r, ErrorCode.CORRUPT_AUDIO, "not audio", NOW),
    "canceled": lambda r: life.canceled(r, NOW),
}
FINISHED = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED]


def record(status: JobStatus, **fields: object) -> JobRecord:
    return job_record("job-1", status, now=BEFORE, **fields)


@pytest.mark.parametrize("status", FINISHED)
@pytest.mark.parametrize("name", TRANSITIONS)
def test_a_finished_job_never_moves_again(status: JobStatus, name: str) -> None:
    done = record(status, error=JobError(code="x", message="y"), result={"a": 1})
    assert TRANSITIONS[name](done) == done


@pytest.mark.parametrize("name", ["claimed", "refused", "expired"])
@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.TRANSCRIBING, JobStatus.MERGING])
def test_the_uploads_transitions_apply_only_to_a_job_awaiting_its_upload(name: str, status: JobStatus) -> None:
    """A cancel or another delivery that got there first wins: the record is returned as it was."""
    running = record(status)
    assert TRANSITIONS[name](running) == running


@pytest.mark.parametrize(
    ("name", "start", "status"),
    [
        ("claimed", JobStatus.AWAITING_UPLOAD, JobStatus.QUEUED),
        ("refused", JobStatus.AWAITING_UPLOAD, JobStatus.FAILED),
        ("expired", JobStatus.AWAITING_UPLOAD, JobStatus.FAILED),
        ("started", JobStatus.QUEUED, JobStatus.TRANSCRIBING),
        ("merging", JobStatus.TRANSCRIBING, JobStatus.MERGING),
        ("completed", JobStatus.MERGING, JobStatus.COMPLETED),
        ("failed", JobStatus.TRANSCRIBING, JobStatus.FAILED),
        ("canceled", JobStatus.AWAITING_UPLOAD, JobStatus.CANCELED),
        ("canceled", JobStatus.TRANSCRIBING, JobStatus.CANCELED),
    ],
)
def test_every_transition_stamps_updated_at(name: str, start: JobStatus, status: JobStatus) -> None:
    """All writers now agree: the ingest's refusal and claim did not stamp it before."""
    after = TRANSITIONS[name](record(start))
    assert (after.status, after.updated_at, after.created_at) == (status, NOW, BEFORE)


def test_failures_carry_their_code_and_completion_its_result() -> None:
    assert life.refused(record(JobStatus.AWAITING_UPLOAD), ErrorCode.FILE_CHANGED, "m", NOW).error == JobError(
        code="file_changed", message="m"
    )
    assert life.expired(record(JobStatus.AWAITING_UPLOAD), NOW).error == JobError(
        code="upload_expired", message="the upload session expired before a commit"
    )
    assert life.failed(record(JobStatus.MERGING), ErrorCode.SEGMENT_TIMEOUT, "late", NOW).error == JobError(
        code="segment_timeout", message="late"
    )
    assert life.completed(record(JobStatus.MERGING), {"words": 3}, NOW).result == {"words": 3}


def test_the_orchestrations_moves_keep_what_they_are_not_given() -> None:
    earlier = record(JobStatus.QUEUED, error=JobError(code="x", message="y"), result={"a": 1})
    after = life.advanced(earlier, JobStatus.TRANSCRIBING, NOW)
    assert (after.error, after.result) == (earlier.error, earlier.result)


def test_the_claim_freezes_the_version_read() -> None:
    claimed = life.claimed(record(JobStatus.AWAITING_UPLOAD), BEFORE, SOURCE, NOW)
    assert (claimed.committed_at, claimed.source) == (BEFORE, SOURCE)


def test_ends_is_true_once_for_the_change_that_finished_the_job() -> None:
    running = record(JobStatus.TRANSCRIBING)
    canceled = life.canceled(running, NOW)
    assert life.ends(running, canceled)
    assert not life.ends(canceled, life.canceled(canceled, NOW))
    assert not life.ends(running, life.merging(running, NOW))


def test_a_new_job_awaits_its_upload_and_showing_it_queued_stores_nothing() -> None:
    fields = record(JobStatus.QUEUED).model_dump(exclude={"status", "created_at", "updated_at"})
    opened = life.opened(NOW, **fields)
    assert (opened.status, opened.created_at, opened.updated_at) == (JobStatus.AWAITING_UPLOAD, NOW, NOW)
    shown = life.shown_as_queued(opened)
    assert shown.status == JobStatus.QUEUED and opened.status == JobStatus.AWAITING_UPLOAD
    running = record(JobStatus.TRANSCRIBING)
    assert life.shown_as_queued(running) == running
