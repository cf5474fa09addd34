"""Settings the trigger listeners read the way the Functions host does: host.json, app settings, the host id.

``extensions.queues`` in host.json drives both the queue trigger and the blob trigger's retries (the real host
uses the same ``maxDequeueCount`` for poison blobs). Defaults are Azure's, ``maxPollingInterval`` included: an
idle queue is polled ever less often, up to once a minute, so an app that needs faster reactions must say so in
host.json, here as on Azure (learn: functions-bindings-storage-queue, host.json settings).
"""

from __future__ import annotations

import json
import os
import re
import socket
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.azure.storage import expand_connection_string

DEFAULT_CONNECTION = "AzureWebJobsStorage"
HOST_ID_SETTING = "AzureFunctionsJobHost__id"  # host.json "id" / app setting, as ScriptHostIdProvider reads it
MAX_HOST_ID_LENGTH = 32
ENCODINGS = ("base64", "none")


class TriggerConfigError(ValueError):
    """A function or setting this host cannot serve; raised at start-up, before any listener runs."""


@dataclass(frozen=True)
class QueueOptions:
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_polling_interval_s: float = 60.0
    visibility_timeout_s: float = 0.0
    max_dequeue_count: int = 5
    message_encoding: str = "base64"


@dataclass(frozen=True)
class BlobOptions:
    max_degree_of_parallelism: int = 8


def parse_timespan(value: Any, number_unit_s: float) -> float:
    """host.json accepts .NET TimeSpans (``[d.]hh:mm:ss[.fffffff]``); bare numbers are in ``number_unit_s``."""
    if isinstance(value, int | float):
        return float(value) * number_unit_s
    match = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)", str(value).strip())
    if not match:
        raise TriggerConfigError(f"not a TimeSpan: {value!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def read_host_json(app_dir: Path) -> dict[str, Any]:
    path = app_dir / "host.json"
    if not path.is_file():
        return {}
    config = json.loads(path.read_text(encoding="utf-8"))
    return config if isinstance(config, dict) else {}


def queue_options(app_dir: Path) -> QueueOptions:
    raw = read_host_json(app_dir).get("extensions", {}).get("queues", {})
    batch = int(raw.get("batchSize", 16))
    if not 1 <= batch <= 32:
        raise TriggerConfigError(f"extensions.queues.batchSize must be 1..32, not {batch}")
    encoding = str(raw.get("messageEncoding", "base64")).lower()
    if encoding not in ENCODINGS:
        raise TriggerConfigError(f"extensions.queues.messageEncoding must be one of {ENCODINGS}, not {encoding!r}")
    polling = raw.get("maxPollingInterval")
    return QueueOptions(
        batch_size=batch,
        new_batch_threshold=int(raw.get("newBatchThreshold", batch // 2)),
        max_polling_interval_s=parse_timespan(polling, 0.001) if polling is not None else 60.0,
        visibility_timeout_s=parse_timespan(raw.get("visibilityTimeout", 0), 1.0),
        max_dequeue_count=max(1, int(raw.get("maxDequeueCount", 5))),
        message_encoding=encoding,
    )


def blob_options(app_dir: Path) -> BlobOptions:
    raw = read_host_json(app_dir).get("extensions", {}).get("blobs", {})
    default = 8 * (os.cpu_count() or 1)  # the extension's default: 8 per core
    return BlobOptions(max_degree_of_parallelism=max(1, int(raw.get("maxDegreeOfParallelism", default))))


@dataclass(frozen=True)
class Connection:
    """A storage connection as the Functions host resolves a binding's ``connection``: a connection string, or
    identity-based settings (``<name>__blobServiceUri`` / ``__queueServiceUri`` / ``__serviceUri`` /
    ``__accountName``, with ``__credential`` and ``__clientId``: learn: functions-reference, identity-based
    connections)."""

    name: str
    connection_string: str | None = None
    blob_uri: str | None = None
    queue_uri: str | None = None
    client_id: str | None = None  # a user-assigned identity; only with __credential=managedidentity, as on Azure

    def credential(self) -> Any:
        """The token credential for identity-based connections, chosen as the Functions host chooses it."""
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        if self.client_id:
            return ManagedIdentityCredential(client_id=self.client_id)
        return DefaultAzureCredential()


def connection(setting: str | None) -> Connection:
    """The binding's ``connection`` names an app setting; an empty one means ``AzureWebJobsStorage``. Like the
    host, ``X`` also finds ``AzureWebJobsX``, and ``X__...`` settings make an identity-based connection."""
    name = setting or DEFAULT_CONNECTION
    for candidate in (name, f"AzureWebJobs{name}"):
        value = os.environ.get(candidate)
        if value:
            return Connection(candidate, connection_string=expand_connection_string(value))
    for candidate in (name, f"AzureWebJobs{name}"):
        found = _identity_based(candidate)
        if found is not None:
            return found
    raise TriggerConfigError(
        f"storage connection {name!r} is not set: give a connection string, or {name}__blobServiceUri and "
        f"{name}__queueServiceUri (or {name}__accountName) for an identity-based connection"
    )


def _identity_based(name: str) -> Connection | None:
    def setting(key: str) -> str | None:
        return os.environ.get(f"{name}__{key}") or None

    account = setting("accountName")
    blob = (
        setting("blobServiceUri") or setting("serviceUri") or (account and f"https://{account}.blob.core.windows.net")
    )
    queue = setting("queueServiceUri") or (account and f"https://{account}.queue.core.windows.net")
    if not (blob or queue):
        return None
    user_assigned = (setting("credential") or "").lower() == "managedidentity" and setting("clientId")
    return Connection(name, blob_uri=blob, queue_uri=queue, client_id=setting("clientId") if user_assigned else None)


def connection_string(setting: str | None) -> str:
    """A connection string only (Azurite, tests); identity-based connections go through :func:`connection`."""
    found = connection(setting)
    if found.connection_string is None:
        raise TriggerConfigError(f"storage connection {found.name!r} is identity-based; no connection string")
    return found.connection_string


def host_storage_connection(fallback_setting: str | None) -> Connection:
    """Receipts and the blob poison queue live in the host's own account (``AzureWebJobsStorage``)."""
    try:
        return connection(DEFAULT_CONNECTION)
    except TriggerConfigError:
        return connection(fallback_setting)


def host_id(app_dir: Path) -> str:
    """A stable id per machine and app folder, as the host derives one when it runs outside App Service."""
    configured = os.environ.get(HOST_ID_SETTING) or read_host_json(app_dir).get("id")
    if configured:
        raw = str(configured)
    else:
        machine = "".join(c for c in socket.gethostname() if c.isalnum())
        raw = f"{machine}-{zlib.crc32(str(app_dir.resolve()).encode())}"
    return raw[:MAX_HOST_ID_LENGTH].lower().rstrip("-")
