"""Create the containers the app expects, as ``infra/bicep`` does in Azure, so a fresh Azurite just works."""

from __future__ import annotations

import contextlib

from azure.core.exceptions import ResourceExistsError

from shared.config import Settings
from shared.storage import build_blob_service


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
    return names
