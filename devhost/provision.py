"""Create the containers and queues the app expects, as ``infra/bicep`` does in Azure, so a fresh Azurite works."""

from __future__ import annotations

import contextlib

from azure.core.exceptions import ResourceExistsError

from shared.azure.queues import build_queue_service
from shared.azure.storage import build_blob_service
from shared.config import Settings
from shared.contracts import BATCH_CLEANUP_QUEUE, SEGMENT_RESULTS_QUEUE


def provision_storage(settings: Settings) -> list[str]:
    service = build_blob_service(settings)
    names = [
        settings.uploads_container,
        settings.jobs_container,
        settings.segments_container,
        settings.results_container,
    ]
    for name in names:
        with contextlib.suppress(ResourceExistsError):
            service.create_container(name)
    queues = build_queue_service(settings)
    # <segment-jobs>-poison: where a worker moves a segment that failed on every attempt (worker/segment_worker.py)
    poison = f"{settings.segment_jobs_queue}-poison"
    for name in (settings.segment_jobs_queue, poison, SEGMENT_RESULTS_QUEUE, BATCH_CLEANUP_QUEUE):
        with contextlib.suppress(ResourceExistsError):
            queues.create_queue(name)
    return names
