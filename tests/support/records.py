"""A job record as the service writes one, for tests that need a record to exist or to look at (any field can be
given; the rest are plausible and fixed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.jobs.records import JobRecord, JobStatus

ORCHESTRATION_INPUT = {
    "job_id": "job-1",
    "committed_at": "2026-01-01T00:00:00+00:00",
    "filename": "a.wav",
    "container": "uploads",
    "blob": "job-1/a.wav",
    "size_bytes": 1000,
}
"""The job orchestration's input as the ingest starts it (the replay tests' job)."""


def job_record(job_id: str, status: JobStatus = JobStatus.AWAITING_UPLOAD, **fields: Any) -> JobRecord:
    now = fields.pop("now", None) or datetime.now(UTC)
    values: dict[str, Any] = {
        "job_id": job_id,
        "status": status,
        "created_at": now,
        "updated_at": now,
        "filename": "a.wav",
        "blob_name": f"{job_id}/a.wav",
        "size_bytes": 1000,
        "content_type": "audio/wav",
        "block_size": 1 << 20,
        "session_expires_at": now + timedelta(days=1),
        "request_fingerprint": "x",
    }
    return JobRecord(**{**values, **fields})
