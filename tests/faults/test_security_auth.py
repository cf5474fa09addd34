"""Nothing answers without a key but health, the OpenAPI document and the refusal of HEAD/OPTIONS (which tells
what the document tells): every route the app and the host register.

The routes come from the app itself (``app.get_functions()``), the host's Durable HTTP API and its admin API, not
from a list kept here, so a route added without authentication fails this test. The expected answer is Azure's: an
empty 401 from the host, before any function runs.
"""

from __future__ import annotations

import re

import httpx
import pytest

from devhost.durable.client_api import DurableHttpApi
from devhost.stack import LocalStack
from tests.support.app_functions import METHOD_REFUSAL, api_operations, http_routes

ANONYMOUS = {
    "health": ("health", ["GET"]),
    "openapi_document": ("openapi.json", ["GET"]),
    METHOD_REFUSAL: ("{*path}", ["HEAD", "OPTIONS"]),  # functions/api/unlisted_methods.py: 405 + Allow, reads nothing
}


NOWHERE = "0e5b8f3a-6d1c-4f7e-9a2b-3c4d5e6f7a8b"  # fixed, so that test ids stay the same from run to run


def _filled(template: str) -> str:
    """A concrete path for a route template: every ``{param}`` an id that exists nowhere."""
    return re.sub(r"\{[^}]+\}", NOWHERE, template)


def app_calls() -> list[tuple[str, str, str]]:
    """(function, method, path) for every method of every HTTP function the app registers."""
    return [
        (name, method, "/api/" + _filled(route))
        for name, (route, methods) in sorted(http_routes().items())
        for method in methods
    ]


def durable_calls() -> list[tuple[str, str]]:
    """(method, path) for every route of the public Durable HTTP API (``/runtime/webhooks/durabletask``)."""
    routes = DurableHttpApi(engine=None, public_origin="", system_key="").routes()  # type: ignore[arg-type]
    return [(method, _filled(r.path)) for r in routes for method in sorted(r.methods or []) if method != "HEAD"]


def test_only_health_the_openapi_document_and_the_method_refusal_are_anonymous() -> None:
    """Which functions are anonymous is decided here, once: a new anonymous route must be added on purpose."""
    from function_app import app as _  # noqa: F401 (the app must import for http_routes)

    routes = http_routes()
    assert {name: routes[name] for name in ANONYMOUS} == ANONYMOUS
    assert len(app_calls()) >= 7  # uploads x2, jobs x4, health, openapi: the enumeration found the app's routes


@pytest.mark.parametrize(("function", "method", "path"), app_calls())
def test_every_app_route_needs_a_function_key(stack: LocalStack, function: str, method: str, path: str) -> None:
    url = f"{stack.base_url}{path}"
    refused = [
        {},
        {"headers": {"x-functions-key": "wrong"}},
        {"params": {"code": "wrong"}},
        {"params": {"code": stack.durable_key}},  # a system key is not a function key (Azure: function level)
        {"headers": {"x-functions-key": ""}},
        # Azure reads the first code (AuthenticationLevelHandler: values.First()); the devhost read the last
        {"params": [("code", "wrong"), ("code", stack.function_key)]},
        {"headers": {"x-functions-key": ""}, "params": {"code": stack.function_key}},  # a header, even empty, rules
    ]
    for how in refused:
        response = httpx.request(method, url, json={} if method == "POST" else None, timeout=30, **how)  # type: ignore[arg-type]
        if function in ANONYMOUS:
            assert response.status_code != 401, (method, path, how)
        else:
            assert (response.status_code, response.content) == (401, b""), (method, path, how)
    answered = httpx.request(method, url, headers={"x-functions-key": stack.function_key}, timeout=30)
    assert answered.status_code != 401, (method, path)  # the key is what made the difference


@pytest.mark.parametrize(("method", "path"), durable_calls(), ids=[f"{m} {p}" for m, p in durable_calls()])
def test_every_durable_webhook_needs_the_system_key(stack: LocalStack, method: str, path: str) -> None:
    """The Durable extension's HTTP API takes its system key (or the master key), never a function key."""
    url = f"{stack.base_url}{path}"
    for how in ({}, {"params": {"code": stack.function_key}}, {"headers": {"x-functions-key": stack.function_key}}):
        response = httpx.request(method, url, timeout=30, **how)  # type: ignore[arg-type]
        assert (response.status_code, response.content) == (401, b""), (method, path, how)
    for key in (stack.durable_key, stack.master_key):
        assert httpx.request(method, url, params={"code": key}, timeout=30).status_code != 401, (method, path)


@pytest.mark.parametrize(("method", "path"), [("GET", "/admin/functions"), ("GET", "/admin/host/status")])
def test_the_admin_api_needs_the_master_key(stack: LocalStack, method: str, path: str) -> None:
    url = f"{stack.base_url}{path}"
    for key in (None, stack.function_key, stack.durable_key):
        headers = {"x-functions-key": key} if key else {}
        assert httpx.request(method, url, headers=headers, timeout=30).status_code == 401, (path, key)
    assert httpx.request(method, url, headers={"x-functions-key": stack.master_key}).status_code == 200


def test_the_openapi_document_declares_the_key_on_every_other_operation(stack: LocalStack) -> None:
    """What the document promises matches what the host enforces: the key on all but the two anonymous calls."""
    document = httpx.get(f"{stack.base_url}/api/openapi.json", timeout=30).json()
    assert document["security"] == [{"functionKey": []}]
    documented = {
        (method.upper(), path): operation.get("security")
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert set(documented) == api_operations() - {("GET", "/openapi.json")}  # the document does not list itself
    assert {path for (_, path), security in documented.items() if security is not None} == {"/health"}
    assert documented[("GET", "/health")] == []
