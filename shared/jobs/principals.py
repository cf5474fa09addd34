"""Who is calling: the owner a job belongs to.

With App Service authentication (Easy Auth) in front of the app, the platform validates the caller's Entra ID token,
removes any client-sent ``X-MS-CLIENT-PRINCIPAL*`` headers and sets them from the token ("External requests aren't
allowed to set these headers": learn.microsoft.com/azure/app-service/configure-authentication-user-identities);
the object id (``oid``) names the caller. Without it those headers are whatever the client sent, so they are
trusted only when the platform says authentication is on (``WEBSITE_AUTH_ENABLED``, which App Service injects) or
an operator says another front end (API Management, a gateway) sets them (``TRANSCRIBE_TRUST_PRINCIPAL_HEADERS``).
Calls made with a function key alone carry no principal and share the owner ``key``: whoever holds the key is the
account's operator.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any

KEY_OWNER = "key"
PRINCIPAL_HEADER = "x-ms-client-principal"
PRINCIPAL_ID_HEADER = "x-ms-client-principal-id"
_OID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
_MAX_PRINCIPAL_CHARS = 64 * 1024  # a token's claims, base64: generous, but bounded before decoding


def caller(headers: Mapping[str, str], *, trusted: bool) -> str:
    """``aad:<object id>`` for an Entra ID caller when the principal headers can be trusted, else ``key``."""
    if not trusted:
        return KEY_OWNER
    encoded = headers.get(PRINCIPAL_HEADER)
    if encoded and (oid := _object_id(encoded)):
        return f"aad:{oid}"
    principal_id = (headers.get(PRINCIPAL_ID_HEADER) or "").strip()
    return f"aad:{principal_id.lower()}" if principal_id else KEY_OWNER


def owner_key(owner: str) -> str:
    """A short, path-safe token for an owner, for blob names (object ids are not secrets, but keep names tidy)."""
    return hashlib.sha256(owner.encode()).hexdigest()[:32]


def _object_id(encoded: str) -> str | None:
    """The ``oid`` claim of a base64 principal; ``None`` for anything malformed (never an exception)."""
    if len(encoded) > _MAX_PRINCIPAL_CHARS:
        return None
    try:
        principal: Any = json.loads(base64.b64decode(encoded, validate=False))
    except (binascii.Error, ValueError, RecursionError):
        return None
    claims = principal.get("claims") if isinstance(principal, dict) else None
    for claim in claims if isinstance(claims, list) else []:
        if isinstance(claim, dict) and claim.get("typ") in _OID_CLAIMS and isinstance(claim.get("val"), str):
            return claim["val"].strip().lower() or None
    return None
