"""Queue clients for the pipeline, with base64 message encoding (the Functions queue trigger's default)."""

from __future__ import annotations

from functools import lru_cache

from azure.storage.queue import (
    BinaryBase64DecodePolicy,
    BinaryBase64EncodePolicy,
    ExponentialRetry,
    QueueClient,
    QueueServiceClient,
)

from shared.azure.storage import azure_credential, client_options, expand_connection_string
from shared.config import Settings, get_settings


def build_queue_service(settings: Settings) -> QueueServiceClient:
    if settings.storage_connection_string:
        conn = expand_connection_string(settings.storage_connection_string)
        return QueueServiceClient.from_connection_string(conn, **client_options(ExponentialRetry))
    if not settings.storage_queue_service_uri:
        raise RuntimeError("set 'Storage__queueServiceUri' for identity-based queue access")
    options = client_options(ExponentialRetry)
    return QueueServiceClient(settings.storage_queue_service_uri, credential=azure_credential(), **options)


@lru_cache(maxsize=8)
def queue(name: str) -> QueueClient:
    service = build_queue_service(get_settings())
    return service.get_queue_client(
        name, message_encode_policy=BinaryBase64EncodePolicy(), message_decode_policy=BinaryBase64DecodePolicy()
    )
