"""What a blob-triggered function receives, chosen from its annotation as the Python worker does.

Only bindings that never load the blob are served: the SDK-type ``BlobClient``/``ContainerClient`` (what
``azurefunctions-extensions-bindings-blob`` hands the function) and, as a devhost convenience, the Event Grid
``BlobCreated`` event itself. ``func.InputStream``, ``bytes`` and ``str`` are refused at start-up: the host reads
the whole blob into memory for them, which this service forbids (uploads are many gigabytes).
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from typing import Any, get_origin

import azure.functions as func
from azure.storage.blob import BlobClient, BlobProperties, ContainerClient

from devhost.app_loader import FunctionInfo
from devhost.triggers.blob_receipts import bare_etag
from devhost.triggers.config import Connection, TriggerConfigError
from devhost.triggers.signature import annotation_of

CLIENT, CONTAINER, EVENT, EVENT_DICT = "client", "container", "event", "event_dict"
ZERO_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


def trigger_arg_kind(function: FunctionInfo) -> str:
    arg_name = str(function.trigger["name"])
    annotation = annotation_of(function.handler, arg_name)
    kind = _kind(annotation)
    if kind is None:
        raise TriggerConfigError(
            f"function {function.name!r}: blob trigger argument {arg_name!r} is annotated {_label(annotation)}, "
            "which loads the whole blob into memory (InputStream/bytes/str) or is unknown; annotate it as "
            "azurefunctions.extensions.bindings.blob.BlobClient (or func.EventGridEvent) instead"
        )
    return kind


def _kind(annotation: Any) -> str | None:
    if isinstance(annotation, str):  # an annotation the loader could not resolve: judge by its name
        name = annotation.rsplit(".", 1)[-1]
        by_name = {"BlobClient": CLIENT, "ContainerClient": CONTAINER, "EventGridEvent": EVENT}
        return by_name.get(name, EVENT_DICT if name.startswith("dict") else None)
    if not isinstance(annotation, type):
        return EVENT_DICT if get_origin(annotation) is dict else None
    if issubclass(annotation, io.IOBase) or annotation in (bytes, str):
        return None
    if issubclass(annotation, BlobClient):
        return CLIENT
    if issubclass(annotation, ContainerClient):
        return CONTAINER
    if issubclass(annotation, func.EventGridEvent):
        return EVENT
    return EVENT_DICT if issubclass(annotation, dict) else None


def _label(annotation: Any) -> str:
    if annotation is None:
        return "nothing (the worker then binds InputStream)"
    return getattr(annotation, "__qualname__", None) or str(annotation)


def blob_created_event(client: BlobClient, props: BlobProperties) -> dict[str, Any]:
    """An Event Grid ``Microsoft.Storage.BlobCreated`` event (Event Grid schema) for a committed blob."""
    modified = props.last_modified or datetime.now(UTC)
    return {
        "topic": (
            f"/subscriptions/{ZERO_SUBSCRIPTION}/resourceGroups/devhost/providers/Microsoft.Storage/"
            f"storageAccounts/{client.account_name}"
        ),
        "subject": f"/blobServices/default/containers/{client.container_name}/blobs/{client.blob_name}",
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": modified.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "id": str(uuid.uuid4()),
        "data": {
            "api": "PutBlockList",
            "clientRequestId": str(uuid.uuid4()),
            "requestId": str(uuid.uuid4()),
            "eTag": f'"{bare_etag(str(props.etag))}"',  # quoted, as in Event Grid's events (listings omit quotes)
            "contentType": props.content_settings.content_type,
            "contentLength": props.size,
            "blobType": str(getattr(props.blob_type, "value", props.blob_type) or "BlockBlob"),
            "url": client.url,
            "sequencer": f"{int(modified.timestamp() * 1_000_000):032x}",
            "storageDiagnostics": {"batchId": str(uuid.uuid4())},
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }


def to_event_grid_event(event: dict[str, Any]) -> func.EventGridEvent:
    return func.EventGridEvent(
        id=event["id"],
        data=event["data"],
        topic=event["topic"],
        subject=event["subject"],
        event_type=event["eventType"],
        event_time=datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00")),
        data_version=event["dataVersion"],
    )


def trigger_value(kind: str, conn: Connection, container: str, props: BlobProperties) -> Any:
    """Built from the connection and the listing alone: nothing here reads the blob's content."""
    if conn.connection_string is not None:
        client = BlobClient.from_connection_string(conn.connection_string, container, props.name)
        container_client = ContainerClient.from_connection_string(conn.connection_string, container)
    else:
        credential = conn.credential()
        client = BlobClient(str(conn.blob_uri), container, props.name, credential=credential)
        container_client = ContainerClient(str(conn.blob_uri), container, credential=credential)
    if kind == CLIENT:
        return client
    if kind == CONTAINER:
        return container_client
    event = blob_created_event(client, props)
    return to_event_grid_event(event) if kind == EVENT else event
