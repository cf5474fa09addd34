"""Storage clients built once per process from the ``Storage`` connection settings.

Connection strings (Azurite) sign with the account key; ``Storage__blobServiceUri`` uses a managed identity
through ``DefaultAzureCredential``, as the Functions host does for identity-based connections. Clients share a
connection pool sized for the host's worker threads so a burst of requests doesn't open a socket each.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import requests
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import BlobServiceClient, ContainerClient

from shared.config import Settings, get_settings
from shared.errors import TransientError
from shared.sas import BlobSigner

logger = logging.getLogger(__name__)

POOL_SIZE = 64


# Azurite's published development account (not a secret: it is in Microsoft's docs and Azurite's README).
DEV_ACCOUNT = "devstoreaccount1"
DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azurite_connection_string(
    blob_port: int = 10000, queue_port: int = 10001, table_port: int = 10002, scheme: str = "http"
) -> str:
    base = f"{scheme}://127.0.0.1"
    return (
        f"DefaultEndpointsProtocol={scheme};AccountName={DEV_ACCOUNT};AccountKey={DEV_ACCOUNT_KEY};"
        f"BlobEndpoint={base}:{blob_port}/{DEV_ACCOUNT};QueueEndpoint={base}:{queue_port}/{DEV_ACCOUNT};"
        f"TableEndpoint={base}:{table_port}/{DEV_ACCOUNT};"
    )


def expand_connection_string(conn: str) -> str:
    """``UseDevelopmentStorage=true`` means Azurite on its default ports, as in the Functions tooling."""
    return azurite_connection_string() if conn.strip().lower() == "usedevelopmentstorage=true" else conn


def parse_connection_string(conn: str) -> dict[str, str]:
    parts = (p.split("=", 1) for p in expand_connection_string(conn).split(";") if "=" in p)
    return {k.strip().lower(): v.strip() for k, v in parts}


def _transport() -> RequestsTransport:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(session=session, session_owner=False)


@lru_cache(maxsize=1)
def azure_credential() -> Any:
    from azure.identity import DefaultAzureCredential  # only identity-based deployments pay for this import

    client_id = get_settings().storage_client_id
    return DefaultAzureCredential(managed_identity_client_id=client_id)


def build_blob_service(settings: Settings) -> BlobServiceClient:
    if settings.storage_connection_string:
        conn = expand_connection_string(settings.storage_connection_string)
        return BlobServiceClient.from_connection_string(conn, transport=_transport())
    assert settings.storage_blob_service_uri  # guaranteed by Settings validation
    return BlobServiceClient(settings.storage_blob_service_uri, credential=azure_credential(), transport=_transport())


@lru_cache(maxsize=1)
def blob_service() -> BlobServiceClient:
    return build_blob_service(get_settings())


def container(name: str) -> ContainerClient:
    return blob_service().get_container_client(name)


def account_key() -> str | None:
    conn = get_settings().storage_connection_string
    return parse_connection_string(conn).get("accountkey") if conn else None


@contextlib.contextmanager
def storage_errors(operation: str, job_id: str | None = None) -> Iterator[None]:
    """Turn network failures and 5xx/429 answers into :class:`TransientError`; let 4xx through."""
    try:
        yield
    except (ServiceRequestError, ServiceResponseError) as exc:
        logger.warning("storage unreachable during %s (job_id=%s): %s", operation, job_id, type(exc).__name__)
        raise TransientError(f"storage unreachable during {operation}; retry later") from exc
    except HttpResponseError as exc:
        if exc.status_code is not None and (exc.status_code >= 500 or exc.status_code in (408, 429)):
            logger.warning("storage busy during %s (job_id=%s): %s", operation, job_id, exc.status_code)
            raise TransientError(f"storage busy during {operation}; retry later") from exc
        raise


@lru_cache(maxsize=1)
def blob_signer() -> BlobSigner:
    """One signer per process, so its user delegation key is fetched once and reused (not per request)."""
    return BlobSigner(blob_service(), account_key())
