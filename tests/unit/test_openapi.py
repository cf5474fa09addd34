"""The OpenAPI documents come from the models; the committed connector file must match what the code generates."""

import json
import re
from pathlib import Path

from functions.api.openapi_document import openapi31
from functions.api.swagger2 import api_properties, swagger2
from tests.support.app_functions import api_operations

CONNECTOR = Path(__file__).resolve().parent.parent.parent / "docs" / "connector" / "openapi2.json"


def _refs(node: object) -> list[str]:
    return re.findall(r'"\$ref": "([^"]+)"', json.dumps(node))


def test_committed_connector_file_is_current() -> None:
    """Regenerate with: .venv/bin/python -m functions.api.openapi_document --swagger2 > docs/connector/openapi2.json"""
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
    routes = {(method.lower(), route) for method, route in api_operations()}
    documented = {(verb, path) for path, item in openapi31()["paths"].items() for verb in item}
    assert documented == routes - {("get", "/openapi.json")}


PROPERTIES = CONNECTOR.parent / "apiProperties.json"


def test_committed_connection_properties_are_current() -> None:
    """Regenerate with:
    .venv/bin/python -m functions.api.openapi_document --api-properties > docs/connector/apiProperties.json"""
    assert json.loads(PROPERTIES.read_text()) == api_properties()


def test_the_connector_file_validates_as_swagger_2() -> None:
    """The 2.0 validator, not just a look at the text: a 3.1-ism (numeric exclusiveMinimum, patternProperties,
    null defaults) makes the import fail in the portal."""
    from openapi_spec_validator import OpenAPIV2SpecValidator

    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in OpenAPIV2SpecValidator(json.loads(CONNECTOR.read_text())).iter_errors()
    ]
    assert errors == []


def test_the_connector_follows_the_power_platform_rules() -> None:
    """What microsoft/PowerPlatformConnectors asks of a connector (schemas/apiDefinition.swagger.schema.json and
    paconn-apiProperties.schema.json, and its certification checklist): unique operation ids, a short summary and
    a description on every operation, a description, display name and visibility on every parameter, and an API-key
    security definition that a connection parameter of the same name supplies."""
    doc = json.loads(CONNECTOR.read_text())
    operations = [op for item in doc["paths"].values() for op in item.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", i) for i in ids)
    for op in operations:
        assert 0 < len(op["summary"]) <= 80 and not op["summary"].endswith("."), op["operationId"]
        assert op["description"].endswith("."), op["operationId"]
        for param in op.get("parameters", []):
            assert param.get("description") and param.get("x-ms-summary"), (op["operationId"], param["name"])
            assert param["x-ms-visibility"] in {"important", "advanced", "internal"}
    properties = json.loads(PROPERTIES.read_text())["properties"]
    parameters = properties["connectionParameters"]
    ((scheme_name, scheme),) = doc["securityDefinitions"].items()
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "x-functions-key"}
    assert parameters[scheme_name]["type"] == "securestring"
    assert doc["security"] == [{scheme_name: []}]
    assert properties["iconBrandColor"].startswith("#")
    for parameter in parameters.values():
        assert parameter["type"] in {"string", "securestring", "int", "bool"}
        assert set(parameter["uiDefinition"]) <= {"displayName", "description", "tooltip", "tabIndex", "constraints"}
        assert set(parameter["uiDefinition"]["constraints"]) <= {"clearText", "required", "tabIndex", "hidden"}
    (policy,) = properties["policyTemplateInstances"]
    assert policy["templateId"] == "dynamichosturl"
    used = re.findall(r"@connectionParameters\('([^']+)'\)", json.dumps(policy))
    assert used and set(used) <= set(parameters)
