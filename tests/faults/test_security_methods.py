"""HEAD and OPTIONS on the API's paths answer ``405`` with ``Allow`` (RFC 9110 15.5.6), not a bare 404 (issue 22).

Azure's Functions host answers an empty 404 for a method no function lists (Azure/azure-functions-host#10098), so
the app declares a catch-all for these two methods (``functions/api/unlisted_methods.py``); the devhost routes it as
Azure does, after every literal route. The paths come from the OpenAPI document, so a new path is tried too. Other
unlisted methods, and paths that are not the API's, keep the host's empty 404.
"""

from __future__ import annotations

import re

import httpx
import pytest

from devhost.stack import LocalStack
from functions.api.openapi_document import openapi31

NOWHERE = "0e5b8f3a-6d1c-4f7e-9a2b-3c4d5e6f7a8b"


def api_paths() -> list[tuple[str, str]]:
    """(concrete path, expected Allow) for every path of the API, the undocumented OpenAPI document included."""
    paths = {path: ", ".join(sorted(m.upper() for m in item)) for path, item in openapi31()["paths"].items()}
    paths["/openapi.json"] = "GET"
    return [("/api" + re.sub(r"\{[^}]+\}", NOWHERE, path), allow) for path, allow in sorted(paths.items())]


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
@pytest.mark.parametrize(("path", "allow"), api_paths())
def test_head_and_options_on_an_api_path_are_405_with_allow(
    stack: LocalStack, method: str, path: str, allow: str
) -> None:
    for headers in ({}, {"x-functions-key": stack.function_key}):  # the same answer with or without a key
        response = httpx.request(method, f"{stack.base_url}{path}", headers=headers, timeout=30)
        assert (response.status_code, response.headers.get("allow")) == (405, allow), (path, response.text[:200])
        if method == "OPTIONS":  # a HEAD answer has no body
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "method_not_allowed"


def test_the_paths_were_found() -> None:
    assert ("/api/uploads", "POST") in api_paths() and ("/api/openapi.json", "GET") in api_paths()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("HEAD", "/api/no/such/path"),
        ("OPTIONS", "/api/uploads/x/y/z"),
        ("PUT", "/api/uploads"),  # other unlisted methods: Azure's host answers 404, so does the devhost
        ("PATCH", f"/api/jobs/{NOWHERE}"),
        ("GET", "/api/no-such-path"),
    ],
)
def test_elsewhere_the_host_answers_its_empty_404(stack: LocalStack, method: str, path: str) -> None:
    response = httpx.request(method, f"{stack.base_url}{path}", timeout=30)
    assert (response.status_code, response.content) == (404, b""), response.headers
