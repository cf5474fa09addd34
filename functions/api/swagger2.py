"""OpenAPI 3.1 → Swagger 2.0 for Logic Apps / Power Platform custom connectors (which accept 2.0 only), adding
the connector extensions: ``x-ms-summary`` (display names) and ``x-ms-visibility``.

Only what our own 3.1 document uses is converted: ``anyOf`` with ``null`` becomes ``x-nullable``, tuples become
arrays, ``const`` becomes a one-value ``enum``, ``$ref`` moves to ``#/definitions``, a numeric
``exclusiveMinimum``/``exclusiveMaximum`` becomes ``minimum``/``maximum`` with the boolean flag 2.0 uses, and what 2.0
cannot say (``patternProperties``, ``null`` defaults) is dropped or moved into the description. The result must
validate as Swagger 2.0 (tests/unit/test_openapi.py runs openapi-spec-validator on it).
"""

from __future__ import annotations

import copy
from typing import Any

_ADVANCED = {"block_size_bytes", "metadata", "continuation", "Idempotency-Key", "file_fingerprint", "audio_stream"}
# The connection's API key. Power Platform names an apiKey security definition's connection parameter "api_key"
# (microsoft/PowerPlatformConnectors: 299 certified connectors' apiProperties.json do), and asks for it once, when
# a connection is created.
API_KEY = "api_key"
# Each customer deploys the service into their own subscription, so the host is a connection parameter too, applied
# by the "dynamichosturl" policy template (schemas/paconn-apiProperties.schema.json in the same repository).
HOST_PARAMETER = "host"
PLACEHOLDER_HOST = "contoso.azurewebsites.net"


def swagger2(doc: dict[str, Any]) -> dict[str, Any]:
    definitions = {name: _schema(schema) for name, schema in doc["components"]["schemas"].items()}
    return {
        "swagger": "2.0",
        "info": doc["info"],
        "host": PLACEHOLDER_HOST,
        "basePath": "/api",
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {
            API_KEY: {
                "type": "apiKey",
                "in": "header",
                "name": "x-functions-key",
                "description": "A function key of the transcription Function App.",
            }
        },
        "security": [{API_KEY: []}],
        "x-ms-connector-metadata": [{"propertyName": "Categories", "propertyValue": "AI;Productivity"}],
        "definitions": definitions,
        "paths": {path: {verb: _operation(op) for verb, op in item.items()} for path, item in doc["paths"].items()},
    }


def api_properties() -> dict[str, Any]:
    """``apiProperties.json``: the connection asks for the Function App's host name and a function key."""
    return {
        "properties": {
            "iconBrandColor": "#0F6CBD",
            "capabilities": ["actions"],
            "connectionParameters": {
                HOST_PARAMETER: {
                    "type": "string",
                    "uiDefinition": {
                        "displayName": "Function App host name",
                        "description": f"The host name of your deployment, such as {PLACEHOLDER_HOST}.",
                        "tooltip": "The Function App's default domain, or your custom domain.",
                        "constraints": {"required": "true", "tabIndex": 1},
                    },
                },
                API_KEY: {
                    "type": "securestring",
                    "uiDefinition": {
                        "displayName": "Function key",
                        "description": "A function key of the transcription Function App.",
                        "tooltip": "Azure portal: the Function App, App keys, a function or host key.",
                        "constraints": {"required": "true", "clearText": False, "tabIndex": 2},
                    },
                },
            },
            "policyTemplateInstances": [
                {
                    "templateId": "dynamichosturl",
                    "title": "Use the connection's host",
                    "parameters": {
                        "x-ms-apimTemplateParameter.urlTemplate": (
                            f"https://@connectionParameters('{HOST_PARAMETER}')/api"
                        )
                    },
                }
            ],
        }
    }


def _operation(op: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: op[k] for k in ("operationId", "summary", "description") if k in op}
    if "security" in op:
        out["security"] = [
            {API_KEY if name == "functionKey" else name: v for name, v in r.items()} for r in op["security"]
        ]
    params = [_parameter(p) for p in op.get("parameters", [])]
    body = op.get("requestBody")
    if body:
        schema = next(iter(body["content"].values()))["schema"]
        params.append(
            {
                "name": "body",
                "in": "body",
                "required": True,
                "schema": _schema(schema),
                "description": body.get("description", "The request body."),
                "x-ms-summary": "Request",
                "x-ms-visibility": "important",
            }
        )
    if params:
        out["parameters"] = params
    out["responses"] = {code: _response(r) for code, r in op["responses"].items()}
    return out


def _parameter(param: dict[str, Any]) -> dict[str, Any]:
    schema = _schema(param.get("schema", {"type": "string"}))
    out = {
        "name": param["name"],
        "in": param["in"],
        "required": param.get("required", False),
        "x-ms-summary": _title(param["name"]),
        "x-ms-visibility": "advanced" if param["name"] in _ADVANCED else "important",
    }
    out.update({k: v for k, v in schema.items() if k in ("type", "enum", "default", "minimum", "maximum", "format")})
    if "description" in param:
        out["description"] = param["description"]
    return out


def _response(response: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"description": response["description"]}
    content = response.get("content") or {}
    schema = next((c.get("schema") for c in content.values() if c.get("schema")), None)
    if schema:
        out["schema"] = _schema(schema)
    if "headers" in response:
        out["headers"] = {
            name: {"type": h["schema"]["type"], "description": h.get("description", "")}
            for name, h in response["headers"].items()
        }
    return out


def _schema(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    schema = copy.deepcopy(schema)
    if "$ref" in schema:
        return {
            "$ref": schema["$ref"]
            .replace("#/components/schemas/", "#/definitions/")
            .replace("#/$defs/", "#/definitions/")
        }
    if schema.get("default", ...) is None:
        del schema["default"]  # 2.0 has no null
    variants = schema.pop("anyOf", None)
    if variants is not None:
        kept = [v for v in variants if v.get("type") != "null"]
        if len(kept) == 1:
            merged = {**_schema(kept[0]), **{k: _schema(v) for k, v in schema.items()}}
            if len(kept) < len(variants):
                merged["x-nullable"] = True
            return merged
        schema["x-anyOf-dropped"] = True  # 2.0 has no anyOf; readers treat the value as free-form
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(schema.get(exclusive), int | float) and not isinstance(schema[exclusive], bool):
            schema[bound], schema[exclusive] = schema[exclusive], True
    patterns = schema.pop("patternProperties", None)
    if patterns:
        (key_pattern,) = patterns
        schema["additionalProperties"] = _schema(patterns[key_pattern])
        note = f"Keys match {key_pattern}."
        schema["description"] = f"{schema['description']} {note}" if schema.get("description") else note
    if "prefixItems" in schema:
        items = schema.pop("prefixItems")
        schema["items"] = _schema(items[0]) if items else {}
        schema.pop("minItems", None)
        schema.pop("maxItems", None)
    out = {k: _schema(v) for k, v in schema.items()}
    if "properties" in out:
        out["properties"] = {name: {**prop, "x-ms-summary": _title(name)} for name, prop in out["properties"].items()}
    return out


def _title(name: str) -> str:
    return " ".join(part.capitalize() for part in name.replace("-", "_").split("_") if part)
