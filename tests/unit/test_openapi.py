"""The OpenAPI documents come from the models; the committed connector file must match what the code generates."""

import json
import re
from pathlib import Path

from shared.openapi import openapi31
from shared.openapi2 import swagger2
from tests.support.app_functions import http_routes

CONNECTOR = Path(__file__).resolve().parent.parent.parent / "docs" / "connector" / "openapi2.json"


def _refs(node: object) -> list[str]:
    return re.findall(r'"\$ref": "([^"]+)"', json.dumps(node))


def test_committed_connector_file_is_current() -> None:
    """Regenerate with: .venv/bin/python -m shared.openapi --swagger2 > docs/connector/openapi2.json"""
    assert json.loads(CONNECTOR.read_text()) == swagger2(openapi31())


def test_every_reference_resolves() -> None:
    doc = openapi31()
    assert {r.rsplit("/", 1)[1] for r in _refs(doc)} <= set(doc["components"]["schemas"])
    old = swagger2(doc)
    assert all(r.startswith("#/definitions/") for r in _refs(old))
    assert {r.rsplit("/", 1)[1] for r in _refs(old)} <= set(old["definitions"])


def test_the_connector_file_is_plain_swagger_2() -> None:
    text = CONNECTOR.read_text()
    assert '"anyOf"' not in text and '"type": "null"' not in text and '"prefixItems"' not in text
    doc = json.loads(text)
    assert doc["swagger"] == "2.0" and len(text) < 1_000_000  # connectors take OpenAPI 2.0 files under 1 MB
    params = [p for item in doc["paths"].values() for op in item.values() for p in op.get("parameters", [])]
    assert all(p.get("x-ms-summary") and p.get("x-ms-visibility") for p in params)
    status = doc["paths"]["/jobs/{job_id}"]["get"]["responses"]
    assert set(status["202"]["headers"]) == {"Location", "Retry-After"}  # the async polling pattern


def test_operations_match_the_function_app_routes() -> None:
    routes = {(method.lower(), "/" + route) for route, methods in http_routes().values() for method in methods}
    documented = {(verb, path) for path, item in openapi31()["paths"].items() for verb in item}
    assert documented == routes - {("get", "/openapi.json")}
