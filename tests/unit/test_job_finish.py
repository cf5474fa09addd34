"""A job's end is stamped once: its turnaround and RTFx do not grow when the record is written again afterwards
(webhook delivery state, a retried final update)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from shared.jobs.records import JobRecord, JobStatus
from shared.jobs.store import _stamp_finish
from shared.jobs.views import _result
from tests.support.records import job_record

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def record(status: JobStatus, updated_s: float) -> JobRecord:
    summary = {"duration_s": 600.0, "words": 10, "segments": 2, "model": "tiny.en"}
    at = T0 + timedelta(seconds=updated_s)
    return job_record("job-1", status, now=T0, updated_at=at, committed_at=T0, result=summary)


class Signer:
    def blob_url(self, container: str, name: str, permission: Any, expiry: Any) -> str:
        return f"https://example.test/{container}/{name}"


def test_the_update_that_ends_a_job_stamps_when_it_ended() -> None:
    ended = _stamp_finish(record(JobStatus.MERGING, 50), record(JobStatus.COMPLETED, 60))
    assert ended.finished_at == T0 + timedelta(seconds=60)


def test_later_writes_keep_the_end_and_the_turnaround() -> None:
    ended = _stamp_finish(record(JobStatus.MERGING, 50), record(JobStatus.COMPLETED, 60))
    later = ended.model_copy(update={"updated_at": T0 + timedelta(seconds=90)})  # e.g. the webhook's delivery state
    assert _stamp_finish(ended, later).finished_at == T0 + timedelta(seconds=60)
    result = _result(later, cast(Any, Signer()), "results")
    assert result is not None and result.turnaround_s == 60.0 and result.rtfx == 10.0


def test_a_writer_that_did_not_move_updated_at_gets_the_time_of_the_write() -> None:
    before = record(JobStatus.QUEUED, 5)
    ended = _stamp_finish(before, before.model_copy(update={"status": JobStatus.FAILED}))
    assert ended.finished_at is not None and ended.finished_at > before.updated_at


def test_records_from_before_the_stamp_fall_back_to_their_last_update() -> None:
    old = record(JobStatus.COMPLETED, 75)
    assert old.finished_at is None
    result = _result(old, cast(Any, Signer()), "results")
    assert result is not None and result.turnaround_s == 75.0
