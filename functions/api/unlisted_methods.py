"""``HEAD`` and ``OPTIONS`` on the API's paths: 405 with ``Allow`` (RFC 9110 15.5.6), not the host's bare 404.

The Functions host maps each HTTP function's route with a method constraint (azure-functions-host
src/WebJobs.Script.WebHost/WebScriptHostHttpRoutesManager.cs: ``HttpMethodRouteConstraint(httpTrigger.Methods)``),
so a method the function does not list is no match, and with no other route the host answers an empty 404
(Azure/azure-functions-host#10098, "should return 405 for request on known route but unsupported HTTP method", is
open). The devhost matches the same way (``devhost/routing.py``). So the app declares this catch-all itself, for
HEAD and OPTIONS only: the host sorts a catch-all after every literal route (``WebJobsRouteBuilder.RouteComparison``;
``devhost/routing.py`` alike), so it runs only where no real route took the request, on Azure and on the devhost.
Other unlisted methods keep the host's 404: a catch-all for GET as well would run (and bill) a function for every
scanner's probe of a path that does not exist.

Anonymous: it reads nothing and tells only what the public OpenAPI document tells. A path that is not the API's
gets the host's own empty 404.
"""

from __future__ import annotations

import re
from functools import cache
from urllib.parse import urlsplit

import azure.functions as func

from functions.api.http import problem_response
from shared.errors import ErrorCode, PermanentError

bp = func.Blueprint()

REFUSED = (func.HttpMethod.HEAD, func.HttpMethod.OPTIONS)
_NOT_DOCUMENTED = {"/openapi.json": ("GET",)}  # served, but the document does not list itself


@cache
def _routes() -> tuple[tuple[re.Pattern[str], str], ...]:
    """(path pattern, Allow value) for every path of the API, from the OpenAPI document the app serves."""
    from functions.api.openapi_document import openapi31

    methods = {path: tuple(verb.upper() for verb in item) for path, item in openapi31()["paths"].items()}
    return tuple((_pattern(path), ", ".join(sorted(verbs))) for path, verbs in {**methods, **_NOT_DOCUMENTED}.items())


def _pattern(template: str) -> re.Pattern[str]:
    """``/jobs/{job_id}`` → one non-empty segment per parameter; literals case-insensitive, as the host matches."""
    parts = [r"[^/]+" if re.fullmatch(r"\{[^}]+\}", p) else re.escape(p) for p in template.strip("/").split("/")]
    return re.compile("/".join(parts) + "/?", re.IGNORECASE)


def allowed(path: str) -> str | None:
    """The ``Allow`` value for a path under the route prefix, or None when the path is not one of the API's."""
    return next((allow for pattern, allow in _routes() if pattern.fullmatch(path.strip("/") + "/")), None)


@bp.route(route="{*path}", methods=list(REFUSED), auth_level=func.AuthLevel.ANONYMOUS)
def method_not_allowed(req: func.HttpRequest) -> func.HttpResponse:
    """405 + Allow on the API's paths; elsewhere the host's empty 404."""
    path = req.route_params.get("path") or ""
    allow = allowed(path)
    if allow is None:
        return func.HttpResponse(status_code=404)
    error = PermanentError(ErrorCode.METHOD_NOT_ALLOWED, f"{req.method} is not allowed here; use {allow}")
    response = problem_response(error, urlsplit(req.url).path)
    response.headers["Allow"] = allow
    return response
