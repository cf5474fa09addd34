"""The devhost serves the real function_app.py, with the Functions host's routes and key checks."""

from __future__ import annotations

import httpx
import pytest

from devhost.stack import LocalStack
from tests.support.app_functions import http_routes

BODY = {"filename": "k.wav", "size_bytes": 10}


def test_devhost_serves_exactly_the_apps_functions(stack: LocalStack) -> None:
    listed = httpx.get(f"{stack.base_url}/admin/functions", headers={"x-functions-key": stack.master_key}).json()
    expected = {name: ("api/" + route, methods) for name, (route, methods) in http_routes().items()}
    assert {f["name"]: (f["route"], f["methods"]) for f in listed} == expected
    assert {"create_upload", "get_upload", "get_job", "list_jobs"} <= set(expected)


@pytest.mark.parametrize(
    ("headers", "params", "status"),
    [
        ({}, {}, 401),
        ({"x-functions-key": "wrong"}, {}, 401),
        ({}, {"code": "wrong"}, 401),
        ({"x-functions-key": "FUNCTION"}, {}, 201),
        ({}, {"code": "FUNCTION"}, 201),
        ({"x-functions-key": "MASTER"}, {}, 201),
    ],
)
def test_function_keys_are_enforced(stack: LocalStack, headers: dict, params: dict, status: int) -> None:
    keys = {"FUNCTION": stack.function_key, "MASTER": stack.master_key}
    headers = {k: keys.get(v, v) for k, v in headers.items()}
    params = {k: keys.get(v, v) for k, v in params.items()}
    response = httpx.post(f"{stack.base_url}/api/uploads", json=BODY, headers=headers, params=params)
    assert response.status_code == status
    if status == 401:
        assert response.content == b""  # the Functions host answers 401 with an empty body


def test_admin_api_needs_the_master_key(stack: LocalStack) -> None:
    url = f"{stack.base_url}/admin/functions"
    assert httpx.get(url, headers={"x-functions-key": stack.function_key}).status_code == 401
    assert httpx.get(url).status_code == 401


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/nothing"), ("DELETE", "/api/uploads"), ("GET", "/uploads")])
def test_no_route_is_404(stack: LocalStack, method: str, path: str) -> None:
    response = httpx.request(method, f"{stack.base_url}{path}", headers={"x-functions-key": stack.function_key})
    assert response.status_code == 404


def test_a_stopped_stack_leaves_no_process_and_no_data_behind() -> None:
    with LocalStack() as local:
        workdir, processes = local.workdir, [local.azurite.process.proc, local.devhost.proc]  # type: ignore[union-attr]
        assert workdir.is_dir()
    assert not workdir.exists()
    assert all(p is not None and p.poll() is not None for p in processes)


def test_health_reports_storage_and_durable_backend(stack: LocalStack) -> None:
    response = httpx.get(f"{stack.base_url}/api/health")  # anonymous, for platform probes
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["storage"]["ok"] and body["checks"]["durable"]["ok"]
    assert "AccountKey" not in response.text and "devstoreaccount1" not in response.text


def test_health_says_degraded_when_storage_is_gone() -> None:
    with LocalStack() as local:
        local.azurite.process.kill()
        response = httpx.get(f"{local.base_url}/api/health", timeout=120)
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == {"ok": False}


def test_openapi_document_is_served_without_a_key(stack: LocalStack) -> None:
    from functions.api.openapi_document import openapi31

    response = httpx.get(f"{stack.base_url}/api/openapi.json")
    assert response.status_code == 200
    assert response.json() == openapi31(f"{stack.base_url}/api")
