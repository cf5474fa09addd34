"""``GET /api/openapi.json``: the OpenAPI 3.1 document, generated from the same models the API uses."""

from __future__ import annotations

import json
from functools import lru_cache

import azure.functions as func

from functions.api.http import base_url

bp = func.Blueprint()


@lru_cache(maxsize=8)
def _document(server: str) -> str:
    from functions.api.openapi_document import openapi31

    return json.dumps(openapi31(server))


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    """Public: it holds no secret, and connector tooling fetches it without a key."""
    server = f"{base_url(req)}/api"
    return func.HttpResponse(_document(server), mimetype="application/json")
