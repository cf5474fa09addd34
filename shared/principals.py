"""Who is calling: the owner a job belongs to.

With App Service authentication (Easy Auth) in front of the app, the platform removes any client-sent
``X-MS-CLIENT-PRINCIPAL*`` headers and sets them from the validated Entra ID token, so they can be trusted; the
object id (``oid``) names the caller. Calls made with a function key alone carry no principal and share the owner
``key``: whoever holds the key is the account's operator.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping

KEY_OWNER = "key"
_OID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")


def caller(headers: Mapping[str, str]) -> str:
    """``aad:<object id>`` for an Entra ID caller, else ``key``."""
    principal_id = headers.get("x-ms-client-principal-id")
    encoded = headers.get("x-ms-client-principal")
    if encoded:
        oid = _object_id(encoded)
        if oid:
            return f"aad:{oid}"
    return f"aad:{principal_id.lower()}" if principal_id else KEY_OWNER


def owner_key(owner: str) -> str:
    """A short, path-safe token for an owner, for blob names (object ids are not secrets, but keep names tidy)."""
    return hashlib.sha256(owner.encode()).hexdigest()[:32]


def _object_id(encoded: str) -> str | None:
    try:
        principal = json.loads(base64.b64decode(encoded, validate=False))
    except (binascii.Error, ValueError):
        return None
    for claim in principal.get("claims", []) if isinstance(principal, dict) else []:
        if isinstance(claim, dict) and claim.get("typ") in _OID_CLAIMS and claim.get("val"):
            return str(claim["val"]).lower()
    return None
