"""Who the caller is: principal headers count only where the platform vouches for them, and never raise."""

from __future__ import annotations

import base64
import json
import time

import pytest

from devhost.easy_auth import OID_CLAIM, EasyAuth, Unauthorized
from shared.config import Settings
from shared.jobs.principals import KEY_OWNER, caller

OID = "6B2F6A1C-0000-4000-8000-00000000000A"


def encoded(principal: object) -> str:
    return base64.b64encode(json.dumps(principal).encode()).decode()


def token(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ms-client-principal-id": OID},
        {"x-ms-client-principal": encoded({"claims": [{"typ": OID_CLAIM, "val": OID}]})},
    ],
)
def test_untrusted_principal_headers_are_ignored(headers: dict[str, str]) -> None:
    assert caller(headers, trusted=False) == KEY_OWNER
    assert caller(headers, trusted=True) == f"aad:{OID.lower()}"


def test_the_principal_claim_wins_over_the_id_header_and_case_does_not_matter() -> None:
    headers = {
        "x-ms-client-principal": encoded({"claims": [{"typ": "oid", "val": OID}]}),
        "x-ms-client-principal-id": "x",
    }
    assert caller(headers, trusted=True) == f"aad:{OID.lower()}"
    assert caller({"x-ms-client-principal-id": OID.upper()}, trusted=True) == caller(
        {"x-ms-client-principal-id": OID.lower()}, trusted=True
    )


@pytest.mark.parametrize(
    "principal",
    [
        "not base64 at all %%%",
        base64.b64encode(b"\xff\xfe not json").decode(),
        encoded({"claims": None}),
        encoded({"claims": "oid"}),
        encoded({"claims": [{"typ": "oid", "val": None}], "x": [1]}),
        encoded([1, 2, 3]),
        encoded(None),
        base64.b64encode(b"[" * 5000 + b"]" * 5000).decode(),
        "A" * 200_000,
    ],
)
def test_a_malformed_principal_never_raises_and_names_nobody(principal: str) -> None:
    assert caller({"x-ms-client-principal": principal}, trusted=True) == KEY_OWNER
    assert caller({"x-ms-client-principal": principal, "x-ms-client-principal-id": OID}, trusted=True) == (
        f"aad:{OID.lower()}"
    )


@pytest.mark.parametrize(
    ("environment", "trusted"),
    [
        ({}, False),
        ({"WEBSITE_AUTH_ENABLED": "True"}, True),
        ({"WEBSITE_AUTH_ENABLED": "False"}, False),
        ({"TRANSCRIBE_TRUST_PRINCIPAL_HEADERS": "true"}, True),
    ],
)
def test_trust_comes_from_the_platform_or_an_explicit_setting(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], trusted: bool
) -> None:
    monkeypatch.delenv("WEBSITE_AUTH_ENABLED", raising=False)
    for name, value in {"Storage": "UseDevelopmentStorage=true", **environment}.items():
        monkeypatch.setenv(name, value)
    assert Settings().principal_headers_trusted is trusted


def test_the_one_machine_host_strips_client_principal_headers_whether_or_not_auth_is_on() -> None:
    sent = {
        "X-MS-CLIENT-PRINCIPAL-ID": OID,
        "x-ms-client-principal": "abc",
        "X-MS-Client-Principal-Name": "n",
        "a": "b",
    }
    assert EasyAuth(enabled=False).headers(sent) == {"a": "b"}
    assert EasyAuth(enabled=True).headers(sent) == {"a": "b"}


def test_with_auth_on_a_bearer_token_becomes_the_platform_headers() -> None:
    claims = {"oid": OID, "exp": time.time() + 60, "upn": "alice@example.com"}
    seen = EasyAuth(enabled=True).headers({"Authorization": f"Bearer {token(claims)}", "X-MS-CLIENT-PRINCIPAL-ID": "x"})
    assert seen["X-MS-CLIENT-PRINCIPAL-ID"] == OID
    assert seen["X-MS-CLIENT-PRINCIPAL-NAME"] == "alice@example.com"
    assert caller({k.lower(): v for k, v in seen.items()}, trusted=True) == f"aad:{OID.lower()}"
    assert "X-MS-CLIENT-PRINCIPAL-ID" not in EasyAuth(enabled=False).headers(
        {"Authorization": f"Bearer {token(claims)}"}
    )


@pytest.mark.parametrize(
    "claims", [{"oid": OID, "exp": time.time() - 1}, {"oid": OID}, {"exp": time.time() + 60}, {"oid": "", "exp": 1e12}]
)
def test_with_auth_on_a_bad_token_is_refused(claims: dict) -> None:
    with pytest.raises(Unauthorized):
        EasyAuth(enabled=True).headers({"authorization": f"Bearer {token(claims)}"})
