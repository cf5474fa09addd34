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
from azure.storage.blob import BlobServiceClient, ContainerClient, ExponentialRetry

from shared.azure.sas import BlobSigner
from shared.config import Settings, get_settings
from shared.errors import TransientError

logger = logging.getLogger(__name__)

POOL_SIZE = 64

# Bounded waits. The SDK's own defaults would hold a call for minutes when storage stops answering: a transport we
# pass in keeps azure-core's ConnectionConfiguration defaults, 300 s to connect and 300 s per read
# (azure/core/configuration.py, "Defaults to 300 seconds"); a client that builds its own uses the storage SDK's 20 s
# and 60 s (azure/storage/blob/_shared/constants.py CONNECTION_TIMEOUT, READ_TIMEOUT); and ExponentialRetry's
# defaults (initial_backoff=15, increment_base=3, retry_total=3; _shared/policies.py) sleep 15 + 18 + 24 s between
# four tries. Measured here (tests/faults/test_storage_faults.py): during an 8 s burst of 503s a job-status call took
# 19.5 s, riding one 15 s back-off, where the caller should have had a 503 with Retry-After at once.
# The read timeout is per socket read (time to first byte, then between bytes), not per transfer, so large range
# reads are unaffected. Worst case per call now: 3 tries x 10 s + back-offs of 3 s and 5 s (1 + 2**n, +-1 s jitter)
# = ~40 s with storage silent; ~8 s of 503s ridden before TransientError (503 storage_unavailable for API callers;
# Durable's activity retries and the worker's queue redelivery for the pipeline).
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 10.0
RETRY = {"initial_backoff": 1, "increment_base": 2, "retry_total": 2, "random_jitter_range": 1}


def client_options(retry_policy: type[Any]) -> dict[str, Any]:
    """Timeouts and retries for a storage client; ``retry_policy`` is the package's ExponentialRetry (blob or
    queue: each storage package has its own)."""
    return {
        "retry_policy": retry_policy(**RETRY),
        "connection_timeout": CONNECT_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
    }


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
    return RequestsTransport(
        session=session, session_owner=False, connection_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S
    )


@lru_cache(maxsize=1)
def azure_credential() -> Any:
    from azure.identity import DefaultAzureCredential  # only identity-based deployments pay for this import

    client_id = get_settings().storage_client_id
    return DefaultAzureCredential(managed_identity_client_id=client_id)


def build_blob_service(settings: Settings) -> BlobServiceClient:
    if settings.storage_connection_string:
        conn = expand_connection_string(settings.storage_connection_string)
        return BlobServiceClient.from_connection_string(
            conn, transport=_transport(), **client_options(ExponentialRetry)
        )
    assert settings.storage_blob_service_uri  # guaranteed by Settings validation
    return BlobServiceClient(
        settings.storage_blob_service_uri,
        credential=azure_credential(),
        transport=_transport(),
        **client_options(ExponentialRetry),
    )


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
