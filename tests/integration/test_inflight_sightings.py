"""What a batch learns at its deadline from the workers' marks (shared/jobs/inflight.py ``sightings``), on Azurite."""

from __future__ import annotations

import contextlib
import time
import uuid

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient

from shared.contracts import SegmentJob
from shared.jobs.inflight import InflightProgress, mark_taken, sightings
from tests.support.segment_jobs import segment_job


def _job(job_id: str, index: int, attempt: int) -> SegmentJob:
    return segment_job(job_id, index, attempt=attempt)


def test_marks_sort_pending_segments_into_working_silent_and_untaken(blob_service: BlobServiceClient) -> None:
    container = blob_service.get_container_client("segments")
    with contextlib.suppress(ResourceExistsError):  # the host provisions it too
        container.create_container()
    job_id = str(uuid.uuid4())
    mark_taken(container, _job(job_id, 0, attempt=1))  # taken at the current attempt
    mark_taken(container, _job(job_id, 1, attempt=1))  # taken at attempt 1, but attempt 2 is out: untaken
    progress = InflightProgress(container, _job(job_id, 2, attempt=2), every_s=0.0)
    progress.reached(5.0)  # progress marks carry the attempt too
    attempts = {0: 1, 1: 2, 2: 2, 3: 1}  # 3: no mark at all
    fresh = sightings(container, job_id, attempts, silent_after_s=1)
    assert (fresh.working, fresh.silent, fresh.untaken) == ([0, 2], [], [1, 3])
    time.sleep(2.1)  # Last-Modified has whole seconds: after 2.1 s a mark is surely over 1 s old
    stale = sightings(container, job_id, attempts, silent_after_s=1)
    assert (stale.working, stale.silent, stale.untaken) == ([], [0, 2], [1, 3])
    other = sightings(container, str(uuid.uuid4()), attempts, silent_after_s=60)  # another job's marks don't count
    assert other.untaken == [0, 1, 2, 3]
