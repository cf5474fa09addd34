"""OpenAPI 3.1 → Swagger 2.0 for Logic Apps / Power Platform custom connectors (which accept 2.0 only), adding
the connector extensions: ``x-ms-summary`` (display names) and ``x-ms-visibility``.

Only what our own 3.1 document uses is converted: ``anyOf`` with ``null`` becomes ``x-nullable``, tuples become
arrays, ``const`` becomes a one-value ``enum``, ``$ref`` moves to ``#/definitions``.
"""

from __future__ import annotations

import copy
from typing import Any

_ADVANCED = {"block_size_bytes", "metadata", "continuation", "Idempotency-Key"}


def swagger2(doc: dict[str, Any]) -> dict[str, Any]:
    definitions = {name: _schema(schema) for name, schema in doc["components"]["schemas"].items()}
    return {
        "swagger": "2.0",
        "info": doc["info"],
        "host": "contoso.azurewebsites.net",
        "basePath": "/api",
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {"functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"}},
        "security": [{"functionKey": []}],
        "definitions": definitions,
        "paths": {path: {verb: _operation(op) for verb, op in item.items()} for path, item in doc["paths"].items()},
    }


def _operation(op: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: op[k] for k in ("operationId", "summary", "description") if k in op}
    if "security" in op:
        out["security"] = op["security"]
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
