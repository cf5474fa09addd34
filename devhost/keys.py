"""Function keys for the one-machine host, checked the way the Functions host checks them.

Keys come from the environment (``DEVHOST_FUNCTION_KEY``, ``DEVHOST_MASTER_KEY``, usually via
``local.settings.json``); when unset a random key is made for this run and printed at start-up, so a
developer's host is never open by accident.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass

from starlette.requests import Request


@dataclass(frozen=True)
class HostKeys:
    function_key: str
    master_key: str

    @classmethod
    def from_env(cls) -> HostKeys:
        return cls(
            function_key=os.environ.get("DEVHOST_FUNCTION_KEY") or secrets.token_urlsafe(32),
            master_key=os.environ.get("DEVHOST_MASTER_KEY") or secrets.token_urlsafe(32),
        )

    def allows(self, auth_level: str, request: Request) -> bool:
        """``anonymous`` needs nothing, ``function`` any key, ``admin`` the master key (as in Azure)."""
        level = auth_level.lower()
        if level == "anonymous":
            return True
        presented = request.headers.get("x-functions-key") or request.query_params.get("code") or ""
        if not presented:
            return False
        accepted = [self.master_key] if level == "admin" else [self.function_key, self.master_key]
        return any(hmac.compare_digest(presented.encode(), key.encode()) for key in accepted)
