"""Function keys for the one-machine host, checked the way the Functions host checks them.

Keys come from the environment (``DEVHOST_FUNCTION_KEY``, ``DEVHOST_MASTER_KEY``, ``DEVHOST_DURABLE_KEY``, usually
via ``local.settings.json``); when unset a random key is made for this run and printed at start-up, so a
developer's host is never open by accident. The durable key is the Durable extension's system key
(``durabletask_extension``), which Azure requires as ``code`` on ``/runtime/webhooks/durabletask/...``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, field

from starlette.requests import Request


@dataclass(frozen=True)
class HostKeys:
    function_key: str
    master_key: str
    durable_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @classmethod
    def from_env(cls) -> HostKeys:
        return cls(
            function_key=os.environ.get("DEVHOST_FUNCTION_KEY") or secrets.token_urlsafe(32),
            master_key=os.environ.get("DEVHOST_MASTER_KEY") or secrets.token_urlsafe(32),
            durable_key=os.environ.get("DEVHOST_DURABLE_KEY") or secrets.token_urlsafe(32),
        )

    def allows_durable_api(self, request: Request) -> bool:
        """The Durable extension's webhooks: its system key or the master key, never a function key."""
        return _presented_one_of(request, [self.durable_key, self.master_key])

    def allows(self, auth_level: str, request: Request) -> bool:
        """``anonymous`` needs nothing, ``function`` any key, ``admin`` the master key (as in Azure)."""
        level = auth_level.lower()
        if level == "anonymous":
            return True
        accepted = [self.master_key] if level == "admin" else [self.function_key, self.master_key]
        return _presented_one_of(request, accepted)


def presented_key(request: Request) -> str:
    """The key a request presents, read as Azure's host reads it: the ``x-functions-key`` header if the request has
    one (even empty), else the ``code`` query parameter; of several values, the *first* (azure-functions-host
    src/WebJobs.Script.WebHost/Security/Authentication/Keys/AuthenticationLevelHandler.cs,
    GetAuthorizationKeyInfoAsync: ``values.First()``). So ``?code=wrong&code=KEY`` is refused: Starlette's
    ``query_params.get`` returns the last value, which let it in."""
    headers = request.headers.getlist("x-functions-key")
    if headers:
        return headers[0]
    codes = request.query_params.getlist("code")
    return codes[0] if codes else ""


def _presented_one_of(request: Request, accepted: list[str]) -> bool:
    presented = presented_key(request)
    return bool(presented) and any(hmac.compare_digest(presented.encode(), key.encode()) for key in accepted)
