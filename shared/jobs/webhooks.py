"""Completion webhooks: where they may go (SSRF guard), how they are signed, and one delivery attempt.

Signing follows the Standard Webhooks scheme: ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature:
v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` with a secret made per job and shown to the customer once,
so a receiver can check origin, integrity and freshness. The payload is a CloudEvents 1.0 JSON event.

SSRF: the service calls a URL a customer chose, from inside Azure. So only ``https`` (``http`` only where the
operator allows it, e.g. on one machine), no credentials in the URL, and no private, loopback, link-local
(169.254.169.254 is the metadata endpoint), multicast or reserved addresses, nor IPv6 forms that carry one
(NAT64, 6to4: ``shared/jobs/public_addresses.py``); nor a URL ``urlsplit`` cannot read (a port out of range) — checked
when the job is created and again, against fresh DNS answers, just before each delivery. The delivery then connects
to the address that was checked, not to whatever a second lookup returns (DNS rebinding: a name that resolves to a
public address for the check and to 127.0.0.1 a moment later), while the Host header, TLS SNI and certificate
check still use the name. No proxies from the environment, no redirects; time is bounded and the receiver's body
is never read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpcore
import httpx

from shared.errors import ErrorCode, PermanentError, TransientError
from shared.jobs.public_addresses import is_public
from shared.telemetry import tracing
from shared.telemetry.names import Attr, Span

TIMEOUT_S = 10.0
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class CallbackPolicy:
    allow_http: bool = False
    allow_private: bool = False


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_callback_url(url: str, policy: CallbackPolicy, resolve: bool = True) -> None:
    """Raise ``invalid_callback_url`` for a URL this service must not call."""
    host, port = _static_checks(url, policy)
    if resolve and not policy.allow_private:
        _checked_addresses(host, port, policy)


def checked_address(url: str, policy: CallbackPolicy) -> str:
    """Resolve the URL's host once, check every address (as at creation), and return the one to connect to."""
    host, port = _static_checks(url, policy)
    return str(_checked_addresses(host, port, policy)[0])


def _static_checks(url: str, policy: CallbackPolicy) -> tuple[str, int]:
    """What the URL alone says. ``urlsplit`` raises ``ValueError`` for a port out of range or not a number and for
    an unclosed ``[``: that is the customer's mistake, so it is refused here rather than becoming a 500."""
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        _refuse("callback_url may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        _refuse(f"callback_url is not a valid URL ({exc})")
    if parts.scheme not in (("https", "http") if policy.allow_http else ("https",)):
        _refuse("callback_url must use https")
    if not parts.hostname or "@" in parts.netloc:  # "https://:@host" has empty credentials: still credentials
        _refuse("callback_url needs a host and no credentials")
    if port == 0:
        _refuse("callback_url port must be between 1 and 65535")
    return str(parts.hostname), port or (443 if parts.scheme == "https" else 80)


def _checked_addresses(
    host: str, port: int, policy: CallbackPolicy
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    addresses = _addresses(host, port)
    if not addresses:
        _refuse("callback_url host does not resolve")
    if not policy.allow_private:
        for address in addresses:
            if not is_public(address):
                _refuse(f"callback_url resolves to a non-public address ({address})")
    return addresses


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def event(kind: str, job_id: str, data: dict[str, Any]) -> tuple[str, bytes]:
    """The same id on every retry of one notification, so receivers can drop duplicates."""
    message_id = f"msg_{job_id}_{kind}"
    body = json.dumps(
        {
            "specversion": "1.0",
            "id": message_id,
            "type": f"transcription.job.{kind}",
            "source": f"/api/jobs/{job_id}",
            "subject": job_id,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "datacontenttype": "application/json",
            "data": data,
        }
    ).encode()
    if len(body) > MAX_BODY:
        raise PermanentError(ErrorCode.VALIDATION_ERROR, "webhook payload too large")
    return message_id, body


def deliver(url: str, secret: str, message_id: str, body: bytes, policy: CallbackPolicy) -> int:
    """One attempt; 2xx returns the status, 5xx/429/network raise TransientError (retry), other 4xx are final."""
    address = checked_address(url, policy)
    timestamp = int(time.time())
    headers = {
        "content-type": "application/cloudevents+json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
        "user-agent": "transcription-webhooks/1",
    }
    with tracing.child(Span.WEBHOOK, kind=tracing.CLIENT) as span:
        traceparent = tracing.current_traceparent()
        if traceparent:  # the receiver may join the job's trace (W3C Trace Context)
            headers["traceparent"] = traceparent
        status = _post(url, body, headers, address)
        span.set_attribute(Attr.HTTP_STATUS, status)
    if status >= 500 or status == 429:
        raise TransientError(f"webhook receiver answered {status}")
    return status


def _post(url: str, body: bytes, headers: dict[str, str], address: str) -> int:
    transport = PinnedTransport(address)
    try:
        with (
            httpx.Client(transport=transport, timeout=TIMEOUT_S, follow_redirects=False, trust_env=False) as client,
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            status = response.status_code  # the body is never read: a receiver cannot make us buffer anything
    except httpx.HTTPError as exc:
        raise TransientError(f"webhook delivery failed: {type(exc).__name__}") from None
    return status


class _PinnedBackend(httpcore.SyncBackend):
    """Connects every request to one address, whatever host name the URL carries."""

    def __init__(self, address: str) -> None:
        self._address = address

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return super().connect_tcp(self._address, port, timeout, local_address, socket_options)


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport, with its connection pool's network backend pinned to a checked address. httpcore
    still uses the URL's host for the Host header and for TLS (``server_hostname``: SNI and certificate name)."""

    def __init__(self, address: str) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), network_backend=_PinnedBackend(address)
        )


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError):  # IDNA refuses a label over 63 characters: UnicodeError
        _refuse("callback_url host does not resolve")
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def _refuse(detail: str) -> NoReturn:
    raise PermanentError(ErrorCode.INVALID_CALLBACK_URL, detail)
