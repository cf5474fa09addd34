"""Storage clients for the listeners, with short retries.

The storage SDK's default retry waits 15 s and more between attempts; a listener that polls every half second
should rather fail fast, log, and poll again, so that ``stop()`` is never stuck behind a back-off.
"""

from __future__ import annotations

import contextlib
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azure.storage.blob import LinearRetry as BlobLinearRetry
from azure.storage.queue import LinearRetry as QueueLinearRetry
from azure.storage.queue import QueueClient

from devhost.triggers.config import Connection, TriggerConfigError

RETRIES = 2
BACKOFF_S = 1
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 30


def queue_client(conn: Connection, queue_name: str) -> QueueClient:
    """A client that sends and receives the stored text as is: encoding is the listener's business."""
    options: dict[str, Any] = {
        "retry_policy": QueueLinearRetry(backoff=BACKOFF_S, random_jitter_range=0, retry_total=RETRIES),
        "connection_timeout": CONNECT_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
    }
    if conn.connection_string is not None:
        return QueueClient.from_connection_string(conn.connection_string, queue_name, **options)
    if not conn.queue_uri:
        raise TriggerConfigError(
            f"storage connection {conn.name!r} has no queue endpoint ({conn.name}__queueServiceUri)"
        )
    return QueueClient(conn.queue_uri, queue_name, credential=conn.credential(), **options)


def blob_service(conn: Connection) -> BlobServiceClient:
    options: dict[str, Any] = {
        "retry_policy": BlobLinearRetry(backoff=BACKOFF_S, random_jitter_range=0, retry_total=RETRIES),
        "connection_timeout": CONNECT_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
    }
    if conn.connection_string is not None:
        return BlobServiceClient.from_connection_string(conn.connection_string, **options)
    if not conn.blob_uri:
        missing = f"{conn.name}__blobServiceUri"
        raise TriggerConfigError(f"storage connection {conn.name!r} has no blob endpoint ({missing})")
    return BlobServiceClient(conn.blob_uri, credential=conn.credential(), **options)


def send_creating_queue(client: QueueClient, text: str) -> None:
    """Poison queues are created on first use, as the host does."""
    try:
        client.send_message(text)
    except ResourceNotFoundError:
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        client.send_message(text)
