"""Hostile JSON bodies on every JSON endpoint: huge, deeply nested, not UTF-8, or hostile field values (callback
URLs, metadata). Each gets a 4xx with a stable code, never a 5xx, and the host stays up.

The endpoints come from the OpenAPI document (every operation with a JSON request body) plus the host's Durable
HTTP API calls that take a JSON body, so a new JSON endpoint is tried too. Two limits: the app's own (64 KiB,
``request_too_large`` problem+json, checked before parsing) and the Functions host's (100 MiB, an empty 413 before
any function runs, as Azure's host answers).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from devhost.http_server import DEFAULT_MAX_REQUEST_BYTES
from devhost.stack import LocalStack
from functions.api.http import MAX_JSON_BODY
from tests.faults.bad_inputs import CALLBACK_URL_CASES, METADATA_CASES

VALID = {"filename": "a.wav", "size_bytes": 1000}


def json_endpoints() -> list[tuple[str, str]]:
    """(method, path) of every API operation whose OpenAPI entry has a JSON request body."""
    from functions.api.openapi_document import openapi31

    return [
        (method.upper(), "/api" + path)
        for path, item in openapi31()["paths"].items()
        for method, operation in item.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]


DURABLE_JSON = [
    "/runtime/webhooks/durabletask/orchestrators/no_such_orchestrator",
    "/runtime/webhooks/durabletask/instances/no-such-instance/raiseEvent/ping",
]

NOT_UTF8 = {
    "latin-1": json.dumps(VALID).replace("a.wav", "caf\u00e9.wav").encode("latin-1", "strict"),
    "utf-16 with BOM": json.dumps(VALID).encode("utf-16"),  # json.loads(bytes) would read it: was a 201
    "utf-32": json.dumps(VALID).encode("utf-32"),
    "utf-8 BOM": b"\xef\xbb\xbf" + json.dumps(VALID).encode(),
    "lone continuation byte": b'{"filename": "\x80.wav", "size_bytes": 1000}',
    "overlong slash": b'{"filename": "\xc0\xaf.wav", "size_bytes": 1000}',
}

NESTED = {
    # json.loads raises RecursionError near 1,000 levels; each of these fits well under the 64 KiB limit
    "array 30,000 deep": b"[" * 30_000 + b"]" * 30_000,
    "object 5,000 deep in a field": b'{"filename": "a.wav", "size_bytes": 1000, "metadata": '
    + b'{"a": ' * 5_000
    + b"1"
    + b"}" * 5_001,
}


def post(stack: LocalStack, path: str, body: bytes | Iterator[bytes], **params: str) -> httpx.Response:
    headers = {"x-functions-key": stack.function_key, "Content-Type": "application/json"}
    if path.startswith("/runtime/"):
        headers, params = {"Content-Type": "application/json"}, {"code": stack.durable_key}
    return httpx.post(f"{stack.base_url}{path}", content=body, headers=headers, params=params, timeout=60)


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text[:300]
    assert (response.status_code, response.json()["code"]) == (status, code), response.text[:300]


def test_the_json_endpoints_are_found() -> None:
    assert ("POST", "/api/uploads") in json_endpoints()


@pytest.mark.parametrize(("method", "path"), json_endpoints())
def test_a_body_over_the_apps_limit_is_413_before_parsing(stack: LocalStack, method: str, path: str) -> None:
    at_limit = json.dumps(VALID).encode().ljust(MAX_JSON_BODY, b" ")
    assert post(stack, path, at_limit).status_code == 201  # exactly the limit is accepted: the bound is where it says
    assert_problem(post(stack, path, at_limit + b" "), 413, "request_too_large")
    not_even_json = b"\xff" * (MAX_JSON_BODY + 1)  # refused for its size: parsing would have said invalid_json
    assert_problem(post(stack, path, not_even_json), 413, "request_too_large")


@pytest.mark.parametrize("case", sorted(NOT_UTF8))
@pytest.mark.parametrize(("method", "path"), json_endpoints())
def test_a_body_that_is_not_utf8_is_invalid_json(stack: LocalStack, method: str, path: str, case: str) -> None:
    assert_problem(post(stack, path, NOT_UTF8[case]), 400, "invalid_json")


@pytest.mark.parametrize("case", sorted(NESTED))
@pytest.mark.parametrize(("method", "path"), json_endpoints())
def test_deeply_nested_json_is_a_4xx(stack: LocalStack, method: str, path: str, case: str) -> None:
    response = post(stack, path, NESTED[case])
    assert 400 <= response.status_code < 500, response.text[:300]
    assert response.json()["code"] in {"invalid_json", "validation_error"}


@pytest.mark.parametrize("path", DURABLE_JSON)
def test_the_durable_api_refuses_bad_json_with_400(stack: LocalStack, path: str) -> None:
    """Non-UTF-8 and deeply nested bodies were a 500 with a traceback in the host's log."""
    for body in [*NOT_UTF8.values(), *NESTED.values()]:
        if body.startswith(b"\xef\xbb\xbf"):
            continue  # the extension's JSON reader skips a UTF-8 BOM; whatever it does, not a 5xx
        assert post(stack, path, body).status_code == 400, body[:40]


def _chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    block = b" " * size
    while total > 0:
        yield block[: min(size, total)]
        total -= size


@pytest.mark.parametrize("path", ["/api/uploads", *DURABLE_JSON])
def test_the_host_refuses_a_body_over_its_limit(stack: LocalStack, path: str) -> None:
    """Over 100 MiB streamed (no Content-Length): the host cuts it off with Azure's empty 413 and keeps serving."""
    response = post(stack, path, _chunks(DEFAULT_MAX_REQUEST_BYTES + 1))
    assert (response.status_code, response.content) == (413, b"")
    assert httpx.get(f"{stack.base_url}/api/health", timeout=30).status_code == 200


@pytest.mark.parametrize("path", ["/api/uploads", *DURABLE_JSON])
def test_a_declared_length_over_the_limit_is_refused_before_any_byte_is_read(stack: LocalStack, path: str) -> None:
    """Kestrel refuses a Content-Length over MaxRequestBodySize at once; so does the devhost: the answer comes
    although the client never sends the body it announced."""
    code = stack.durable_key if path.startswith("/runtime/") else stack.function_key
    netloc = urlsplit(stack.base_url)
    request = (
        f"POST {path}?code={code} HTTP/1.1\r\nHost: {netloc.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {DEFAULT_MAX_REQUEST_BYTES + 1}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((netloc.hostname, netloc.port), timeout=10) as conn:
        conn.sendall(request)
        status_line = conn.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413"), status_line


@pytest.mark.parametrize(
    ("path", "params", "headers", "status"),
    [
        # int() refuses over 4,300 digits (sys.get_int_max_str_digits): each of these was a 500
        ("/api/jobs", {"limit": "9" * 5000}, {}, 422),
        ("/runtime/webhooks/durabletask/instances", {"createdTimeFrom": "garbage"}, {}, 400),
        ("/runtime/webhooks/durabletask/instances", {"createdTimeTo": "2024-13-45"}, {}, 400),
        ("/runtime/webhooks/durabletask/instances", {"top": "x"}, {}, 400),
        ("/runtime/webhooks/durabletask/instances", {}, {"x-ms-continuation-token": "x"}, 400),
    ],
)
def test_hostile_query_values_are_4xx(stack: LocalStack, path: str, params: dict, headers: dict, status: int) -> None:
    key = {"code": stack.durable_key if path.startswith("/runtime/") else stack.function_key}
    response = httpx.get(f"{stack.base_url}{path}", params={**key, **params}, headers=headers, timeout=30)
    assert response.status_code == status, response.text[:300]


def _job_count(stack: LocalStack) -> int:
    response = httpx.get(
        f"{stack.base_url}/api/jobs", params={"limit": "100"}, headers={"x-functions-key": stack.function_key}
    )
    return len(response.json()["jobs"])


@pytest.mark.parametrize("url", [pytest.param(u, id=i) for i, u in CALLBACK_URL_CASES])
def test_a_callback_url_that_cannot_be_called_is_422_and_creates_nothing(stack: LocalStack, url: str) -> None:
    """Issue 22: a port out of range or an unclosed bracket made urlsplit raise, and POST /api/uploads a 500."""
    before = _job_count(stack)
    response = post(stack, "/api/uploads", json.dumps({**VALID, "callback_url": url}).encode())
    assert_problem(response, 422, "invalid_callback_url")
    assert _job_count(stack) == before


@pytest.mark.parametrize("metadata", [pytest.param(m, id=i) for i, m in METADATA_CASES])
def test_metadata_with_control_or_invisible_characters_is_422(stack: LocalStack, metadata: dict[str, str]) -> None:
    """Issue 22: a NUL or a right-to-left override (U+202E) in a metadata value was stored and shown back."""
    before = _job_count(stack)
    body = json.dumps({**VALID, "metadata": metadata}).encode()  # ensure_ascii: a lone surrogate travels as \ud800
    response = post(stack, "/api/uploads", body)
    assert_problem(response, 422, "validation_error")
    assert [e["field"] for e in response.json()["errors"]] == [f"metadata.{next(iter(metadata))}"]
    assert _job_count(stack) == before


def test_a_repeated_query_parameter_reaches_the_app_joined_by_commas(stack: LocalStack) -> None:
    """Azure's host hands the worker ``StringValues.ToString()``: "500,5", which ``limit`` refuses; the devhost passed
    the last value alone ("5"), so a request Azure refuses was a 200 here."""
    params = [("code", stack.function_key), ("limit", "500"), ("limit", "5")]
    response = httpx.get(f"{stack.base_url}/api/jobs", params=params, timeout=30)
    assert_problem(response, 422, "validation_error")
