"""Storage clients for the listeners, with short retries.

The storage SDK's default retry waits 15 s and more between attempts; a listener that polls every half second
should rather fail fast, log, and poll again, so that ``stop()`` is never stuck behind a back-off.
"""

from __future__ import annotations

import contextlib

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azure.storage.blob import LinearRetry as BlobLinearRetry
from azure.storage.queue import LinearRetry as QueueLinearRetry
from azure.storage.queue import QueueClient

RETRIES = 2
BACKOFF_S = 1
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 30


def queue_client(conn: str, queue_name: str) -> QueueClient:
    """A client that sends and receives the stored text as is: encoding is the listener's business."""
    return QueueClient.from_connection_string(
        conn,
        queue_name,
        retry_policy=QueueLinearRetry(backoff=BACKOFF_S, random_jitter_range=0, retry_total=RETRIES),
        connection_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )


def blob_service(conn: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(
        conn,
        retry_policy=BlobLinearRetry(backoff=BACKOFF_S, random_jitter_range=0, retry_total=RETRIES),
        connection_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )


def send_creating_queue(client: QueueClient, text: str) -> None:
    """Poison queues are created on first use, as the host does."""
    try:
        client.send_message(text)
    except ResourceNotFoundError:
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        client.send_message(text)
