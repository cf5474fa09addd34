"""App Service authentication ("Easy Auth") as far as one machine can play it: principal headers come from the
platform, never from the client.

On Azure, with authentication on, App Service validates the caller's token and sets ``X-MS-CLIENT-PRINCIPAL*``
itself; client-sent copies never reach the app ("External requests aren't allowed to set these headers":
learn.microsoft.com/azure/app-service/configure-authentication-user-identities), and it injects
``WEBSITE_AUTH_ENABLED=True`` into the app's environment. Here, client-sent principal headers are always removed.
With ``DEVHOST_EASY_AUTH=1`` a bearer token's claims become those headers and ``WEBSITE_AUTH_ENABLED`` is set, so
the app's own check (shared/jobs/principals.py) sees what it would see on Azure. The token's signature is not checked
(Entra ID cannot run here, as with Azurite's OAuth mode); its expiry and object id are, and a bad token gets 401
as Easy Auth gives. Requests without a token pass with no principal (the "allow unauthenticated requests" mode,
which lets function-key callers such as Logic Apps in).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from dataclasses import dataclass
from typing import Any

PRINCIPAL_PREFIX = "x-ms-client-principal"
OID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
_NAME_CLAIMS = ("preferred_username", "upn", "email", "name")


class Unauthorized(Exception):
    """The request carried a token that Easy Auth would refuse."""


@dataclass(frozen=True)
class EasyAuth:
    enabled: bool = False
    # DEVHOST_PRINCIPAL_HEADERS=pass plays a gateway in front that sets the headers itself (the app must then be
    # told to trust them: TRANSCRIBE_TRUST_PRINCIPAL_HEADERS).
    pass_client_headers: bool = False

    @classmethod
    def from_env(cls) -> EasyAuth:
        return cls(
            enabled=os.environ.get("DEVHOST_EASY_AUTH", "").lower() in ("1", "true", "yes"),
            pass_client_headers=os.environ.get("DEVHOST_PRINCIPAL_HEADERS", "strip").lower() == "pass",
        )

    def announce_to_app(self) -> None:
        """What App Service puts in the app's environment when its authentication is on."""
        if self.enabled:
            os.environ["WEBSITE_AUTH_ENABLED"] = "True"

    def headers(self, incoming: dict[str, str]) -> dict[str, str]:
        """The headers the app sees: the client's, minus any principal headers, plus the platform's own."""
        if self.pass_client_headers:
            return dict(incoming)
        out = {k: v for k, v in incoming.items() if not k.lower().startswith(PRINCIPAL_PREFIX)}
        scheme, _, token = next((v for k, v in incoming.items() if k.lower() == "authorization"), "").partition(" ")
        if not self.enabled or scheme.lower() != "bearer" or not token.strip():
            return out
        return out | principal_headers(_claims(token.strip()))


def principal_headers(claims: dict[str, Any]) -> dict[str, str]:
    """The four headers App Service sets for an Entra ID caller (the object id carried as its long claim type)."""
    oid = claims.get("oid")
    if not isinstance(oid, str) or not oid.strip():
        raise Unauthorized("the token has no object id")
    name = next((str(claims[c]) for c in _NAME_CLAIMS if isinstance(claims.get(c), str)), oid)
    principal = {
        "auth_typ": "aad",
        "name_typ": "name",
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
        "claims": [{"typ": OID_CLAIM, "val": oid}, *({"typ": k, "val": str(v)} for k, v in claims.items())],
    }
    return {
        "X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(principal).encode()).decode(),
        "X-MS-CLIENT-PRINCIPAL-ID": oid,
        "X-MS-CLIENT-PRINCIPAL-NAME": name,
        "X-MS-CLIENT-PRINCIPAL-IDP": "aad",
    }


def _claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthorized("not a JWT")
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise Unauthorized("the token's claims do not decode") from exc
    if not isinstance(claims, dict):
        raise Unauthorized("the token's claims are not an object")
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or expires < time.time():
        raise Unauthorized("the token has expired or has no expiry")
    return claims
