"""Short-lived, single-blob SAS URLs.

In Azure the app has no account key (shared-key access is off), so it signs a *user delegation* SAS with a key
obtained through its managed identity; the key is cached and renewed well before it expires, because fetching
one is a network round trip. Against Azurite, which only issues delegation keys under OAuth, it signs with the
account key from the connection string. Either way the URL grants exactly the permissions asked for, on one
blob, HTTPS-only when the endpoint is HTTPS, with a start time back-dated for clock skew.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from azure.storage.blob import BlobSasPermissions, BlobServiceClient, UserDelegationKey, generate_blob_sas

CLOCK_SKEW = timedelta(minutes=15)
DELEGATION_KEY_LIFETIME = timedelta(days=1)


class BlobSigner:
    """Signs blob SAS tokens with either an account key or a cached user delegation key."""

    def __init__(self, service: BlobServiceClient, account_key: str | None) -> None:
        self._service = service
        self._account_key = account_key
        self._lock = threading.Lock()
        self._delegation_key: UserDelegationKey | None = None
        self._delegation_expiry = datetime.min.replace(tzinfo=UTC)

    @property
    def uses_account_key(self) -> bool:
        return self._account_key is not None

    def blob_url(self, container: str, blob: str, permission: BlobSasPermissions, expiry: datetime) -> str:
        now = datetime.now(UTC)
        start = now - CLOCK_SKEW
        secure = self._service.url.startswith("https://")
        common = {
            "account_name": self._service.account_name,
            "container_name": container,
            "blob_name": blob,
            "permission": permission,
            "start": start,
            "expiry": expiry,
            "protocol": "https" if secure else None,
        }
        if self._account_key is not None:
            token = generate_blob_sas(account_key=self._account_key, **common)  # type: ignore[arg-type]
        else:
            token = generate_blob_sas(user_delegation_key=self._user_delegation_key(expiry), **common)  # type: ignore[arg-type]
        base = self._service.url.rstrip("/")
        return f"{base}/{quote(container)}/{quote(blob)}?{token}"

    def _user_delegation_key(self, needed_until: datetime) -> UserDelegationKey:
        with self._lock:
            if self._delegation_key is None or self._delegation_expiry < needed_until + timedelta(minutes=5):
                now = datetime.now(UTC)
                expiry = max(now + DELEGATION_KEY_LIFETIME, needed_until + timedelta(hours=1))
                expiry = min(expiry, now + timedelta(days=7))  # the service's upper bound
                self._delegation_key = self._service.get_user_delegation_key(now - CLOCK_SKEW, expiry)
                self._delegation_expiry = expiry
            return self._delegation_key


def upload_permission() -> BlobSasPermissions:
    """Create + write: Put Block and Put Block List on the one blob; no read, list or delete."""
    return BlobSasPermissions(create=True, write=True)


def read_permission() -> BlobSasPermissions:
    return BlobSasPermissions(read=True)
