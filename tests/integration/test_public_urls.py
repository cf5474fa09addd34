"""Links the API returns point where the operator says the service lives, never where a Host header says.

A client chooses its Host header; reflecting it into ``Location``, ``status_url`` or ``next_url`` lets a link sent
to someone else point at any site. Links come from TRANSCRIBE_PUBLIC_BASE_URL, else WEBSITE_HOSTNAME (which App
Service injects, and the one-machine host sets to where it listens).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from devhost.stack import LocalStack

BODY = {"filename": "talk.wav", "size_bytes": 1000}
EVIL = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "Forwarded": "host=evil.example"}


def links(response: httpx.Response) -> str:
    """Everything in a response a client might follow: headers and body."""
    return json.dumps(dict(response.headers)) + response.text


def test_a_forged_host_header_is_not_reflected(api: httpx.Client, stack: LocalStack) -> None:
    created = api.post("/api/uploads", json=BODY, headers=EVIL)
    assert created.status_code == 201
    job_id = created.json()["job_id"]
    assert created.json()["status_url"].startswith(stack.base_url)
    responses = [
        created,
        api.get(f"/api/uploads/{job_id}", headers=EVIL),
        api.get(f"/api/jobs/{job_id}", headers=EVIL),
        api.get("/api/jobs", params={"limit": 1}, headers=EVIL),
        api.get("/api/openapi.json", headers=EVIL),
    ]
    for response in responses:
        assert response.status_code < 300, response.text
        assert "evil.example" not in links(response), response.request.url
    assert responses[2].headers["Location"].startswith(stack.base_url)


@pytest.fixture(scope="module")
def proxied() -> Iterator[LocalStack]:
    with LocalStack(env={"TRANSCRIBE_PUBLIC_BASE_URL": "https://transcribe.contoso.example/"}) as stack:
        yield stack


def test_the_configured_public_address_is_used_behind_a_proxy(proxied: LocalStack) -> None:
    with httpx.Client(base_url=proxied.base_url, headers={"x-functions-key": proxied.function_key}) as api:
        created = api.post("/api/uploads", json=BODY, headers=EVIL).json()
        assert created["status_url"] == f"https://transcribe.contoso.example/api/jobs/{created['job_id']}"
        servers = api.get("/api/openapi.json").json()["servers"]
        assert servers == [{"url": "https://transcribe.contoso.example/api"}]
