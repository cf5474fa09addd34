"""The job record store: one JSON blob per job, plus idempotency-key claims.

Blobs rather than a table: the same code runs against Azurite and Azure with no extra service, a conditional
create (``If-None-Match: *``) gives an atomic "first writer wins" for idempotency keys, and ETags give
optimistic concurrency for status updates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContentSettings

from shared.azure import storage
from shared.azure.storage import storage_errors
from shared.config import get_settings
from shared.errors import ErrorCode, PermanentError, TransientError
from shared.ids import is_job_id
from shared.jobs.principals import owner_key
from shared.jobs.records import JobRecord

_JSON = ContentSettings(content_type="application/json")


def _record_blob(job_id: str) -> str:
    return f"records/{job_id}.json"


def _index_blob(record: JobRecord) -> str:
    """Newest first: names sort by an inverted creation time."""
    inverted = 10**13 - int(record.created_at.timestamp() * 1000)
    return f"owners/{owner_key(record.owner)}/{inverted:013d}_{record.job_id}"


def _idempotency_blob(key_hash: str) -> str:
    return f"idempotency/{key_hash}.json"


class JobStore:
    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    def create(self, record: JobRecord) -> JobRecord:
        """Write a new record (and its owner index entry); a retried request gets the existing one back."""
        with storage_errors("create job", record.job_id):
            try:
                self._container.upload_blob(
                    _record_blob(record.job_id),
                    record.model_dump_json().encode(),
                    overwrite=False,
                    content_settings=_JSON,
                )
            except ResourceExistsError:
                return self.get(record.job_id)
            self._container.upload_blob(_index_blob(record), b"", overwrite=True)
        return record

    def get_owned(self, job_id: str, owner: str) -> JobRecord:
        """A job as its owner sees it; anyone else is told it does not exist (no probing of other ids)."""
        if not is_job_id(job_id):
            raise PermanentError(ErrorCode.JOB_NOT_FOUND, f"no job with id '{job_id}'")
        record = self.get(job_id)
        if record.owner != owner:
            raise PermanentError(ErrorCode.JOB_NOT_FOUND, f"no job with id '{job_id}'")
        return record

    def list_owned(self, owner: str, page_size: int, continuation: str | None) -> tuple[list[str], str | None]:
        """Job ids of one owner, newest first, one page at a time (the storage continuation token is passed on)."""
        prefix = f"owners/{owner_key(owner)}/"
        with storage_errors("list jobs"):
            pages: Any = self._container.list_blobs(name_starts_with=prefix, results_per_page=page_size).by_page(
                continuation_token=continuation
            )
            page: list[Any] = list(next(pages, []))
            ids = [blob.name.rsplit("_", 1)[1] for blob in page]
        return ids, pages.continuation_token

    def get(self, job_id: str) -> JobRecord:
        with storage_errors("read job", job_id):
            try:
                data = self._container.download_blob(_record_blob(job_id)).readall()
            except ResourceNotFoundError:
                raise PermanentError(ErrorCode.JOB_NOT_FOUND, f"no job with id '{job_id}'") from None
        return JobRecord.model_validate_json(data)

    def update(self, job_id: str, change: Callable[[JobRecord], JobRecord]) -> JobRecord:
        """Read-modify-write with the blob's ETag, retried on a concurrent write; ``change`` must be pure."""
        name = _record_blob(job_id)
        for _ in range(10):
            with storage_errors("update job", job_id):
                try:
                    downloader = self._container.download_blob(name)
                except ResourceNotFoundError:
                    raise PermanentError(ErrorCode.JOB_NOT_FOUND, f"no job with id '{job_id}'") from None
                before = JobRecord.model_validate_json(downloader.readall())
                record = _stamp_finish(before, change(before))
                try:
                    self._container.upload_blob(
                        name,
                        record.model_dump_json().encode(),
                        overwrite=True,
                        content_settings=_JSON,
                        etag=downloader.properties.etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
                    return record
                except ResourceModifiedError:
                    continue
        raise TransientError(f"job {job_id} kept changing under us; retry later")

    def claim_idempotency_key(self, key_hash: str, job_id: str, fingerprint: str) -> tuple[str, str] | None:
        """Atomically bind a key to a job. Returns ``None`` if we won, else the earlier (job_id, fingerprint)."""
        body = json.dumps({"job_id": job_id, "fingerprint": fingerprint}).encode()
        with storage_errors("claim idempotency key", job_id):
            try:
                self._container.upload_blob(_idempotency_blob(key_hash), body, overwrite=False, content_settings=_JSON)
                return None
            except ResourceExistsError:
                earlier = json.loads(self._container.download_blob(_idempotency_blob(key_hash)).readall())
        return earlier["job_id"], earlier["fingerprint"]

    def wait_for(self, job_id: str, timeout_s: float = 2.0) -> JobRecord | None:
        """Read a record that a concurrent request has claimed but may not have written yet (``None``: never)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.get(job_id)
            except PermanentError:
                if time.monotonic() >= deadline:
                    return None
                time.sleep(0.05)


def _stamp_finish(before: JobRecord, after: JobRecord) -> JobRecord:
    """The moment a job ends, kept apart from ``updated_at``, which later writes (webhook delivery state) move: a
    job's turnaround and RTFx must not grow after it finished."""
    if after.finished and not before.finished and after.finished_at is None:
        moved = after.updated_at > before.updated_at  # most writers stamp the change; the rest did it now
        return after.model_copy(update={"finished_at": after.updated_at if moved else datetime.now(UTC)})
    return after


def job_store() -> JobStore:
    """The job records of this deployment (the settings' jobs container), for the app and the worker alike: the
    one place that says where they live."""
    return JobStore(storage.container(get_settings().jobs_container))
