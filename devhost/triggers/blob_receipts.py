"""Blob receipts and poison blobs, where the real host keeps them, so a restarted host does not fire twice.

A receipt is an empty blob ``azure-webjobs-hosts/blobreceipts/<hostId>/<functionId>/<etag>/<container>/<blob>``
in the host's storage account (``AzureWebJobsStorage``), written once the function succeeded for that blob
version, or once it was given up as poison (metadata ``poisoned=true``). ``functionId`` is
``Host.Functions.<name>``, the id the Functions host gives an app's function (also the ``functionName`` of the
Event Grid blob webhook). Deleting a receipt makes the blob fire again after a restart, as the Azure docs
describe. After ``maxDequeueCount`` failures a JSON message goes to the ``webjobs-blobtrigger-poison`` queue
with the fields the host documents.
"""

from __future__ import annotations

import contextlib
import json
import logging

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from devhost.triggers.clients import blob_service, queue_client, send_creating_queue
from devhost.triggers.config import Connection
from devhost.triggers.queue_codec import encode_body

logger = logging.getLogger(__name__)

HOSTS_CONTAINER = "azure-webjobs-hosts"
POISON_QUEUE = "webjobs-blobtrigger-poison"

BlobVersion = tuple[str, str, str]  # container, blob name, etag without quotes


def function_id(function_name: str) -> str:
    return f"Host.Functions.{function_name}"


def bare_etag(etag: str) -> str:
    return etag.strip('"')


def receipt_name(host_id: str, function_name: str, version: BlobVersion) -> str:
    container, blob_name, etag = version
    return f"blobreceipts/{host_id}/{function_id(function_name)}/{etag}/{container}/{blob_name}"


class ReceiptStore:
    def __init__(self, conn: Connection, host_id: str, function_name: str, message_encoding: str) -> None:
        self._container = blob_service(conn).get_container_client(HOSTS_CONTAINER)
        self._poison = queue_client(conn, POISON_QUEUE)
        self._host_id = host_id
        self._function_name = function_name
        self._encoding = message_encoding

    def load(self) -> set[BlobVersion]:
        """Every version this function already processed, in one listing (not one request per blob)."""
        prefix = f"blobreceipts/{self._host_id}/{function_id(self._function_name)}/"
        done: set[BlobVersion] = set()
        try:
            for item in self._container.list_blobs(name_starts_with=prefix):
                etag, _, rest = str(item.name)[len(prefix) :].partition("/")
                container, _, blob_name = rest.partition("/")
                done.add((container, blob_name, etag))
        except ResourceNotFoundError:
            pass  # no receipts container yet: nothing processed
        return done

    def write(self, version: BlobVersion, poisoned: bool = False) -> None:
        name = receipt_name(self._host_id, self._function_name, version)
        metadata = {"poisoned": "true"} if poisoned else None
        try:
            self._container.upload_blob(name, b"", overwrite=True, metadata=metadata)
        except ResourceNotFoundError:
            self._create_container()
            self._container.upload_blob(name, b"", overwrite=True, metadata=metadata)

    def poison(self, version: BlobVersion, blob_type: str) -> None:
        container, blob_name, etag = version
        body = json.dumps(
            {
                "Type": "BlobTrigger",
                "FunctionId": function_id(self._function_name),
                "BlobType": blob_type,
                "ContainerName": container,
                "BlobName": blob_name,
                "ETag": etag,
            }
        ).encode("utf-8")
        send_creating_queue(self._poison, encode_body(body, self._encoding))

    def _create_container(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self._container.create_container()
