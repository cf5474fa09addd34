"""The HTTP edge shared by every API function: JSON in, JSON or problem+json out.

Handlers raise :class:`~shared.errors.ServiceError`; :func:`api_errors` turns it into an RFC 9457 response, and
turns anything unexpected into a 500 ``internal_error`` that logs the traceback but shows the caller nothing
internal.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import azure.functions as func
from pydantic import BaseModel, ValidationError

from shared.config import get_settings, is_loopback
from shared.errors import ErrorCode, PermanentError, ServiceError
from shared.jobs.principals import caller

logger = logging.getLogger(__name__)

MAX_JSON_BODY = 64 * 1024
PROBLEM_JSON = "application/problem+json"
ModelT = TypeVar("ModelT", bound=BaseModel)


def json_response(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(model.model_dump_json(), status_code=status, headers=headers, mimetype="application/json")


def problem_response(error: ServiceError, instance: str | None = None) -> func.HttpResponse:
    headers = {"Retry-After": "5"} if error.retryable else None
    return func.HttpResponse(
        json.dumps(error.to_problem(instance)),
        status_code=error.code.status,
        headers=headers,
        mimetype=PROBLEM_JSON,
    )


def parse_body(req: func.HttpRequest, model: type[ModelT]) -> ModelT:
    body = req.get_body()
    if len(body) > MAX_JSON_BODY:
        raise PermanentError(ErrorCode.REQUEST_TOO_LARGE, f"the JSON body may be at most {MAX_JSON_BODY} bytes")
    try:
        # UTF-8 only (RFC 8259 section 8.1): json.loads(bytes) would also take UTF-16/32 and a BOM, which no client
        # of ours sends and which other JSON readers in the path (Logic Apps, the gateway) may read differently.
        data = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise PermanentError(ErrorCode.INVALID_JSON, f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # thousands of nested brackets fit in a small body
        raise PermanentError(ErrorCode.INVALID_JSON, "the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise PermanentError(ErrorCode.VALIDATION_ERROR, "the body must be a JSON object", errors=[])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise PermanentError(
            ErrorCode.VALIDATION_ERROR, f"{len(errors)} field(s) failed validation", errors=errors
        ) from None


def who(req: func.HttpRequest) -> str:
    """The owner this request acts for (an Entra ID principal only where the platform vouches for the headers)."""
    return caller(req.headers, trusted=get_settings().principal_headers_trusted)


def base_url(req: func.HttpRequest) -> str:
    """Where callers reach the API, for the links we return: from the settings (TRANSCRIBE_PUBLIC_BASE_URL, else
    the WEBSITE_HOSTNAME App Service injects), never from the Host header, which the client chooses. Only a request
    to this machine itself (tests calling a handler directly) may fall back on its own URL."""
    configured = get_settings().public_origin
    if configured:
        return configured
    parts = urlsplit(req.url)
    if parts.hostname and is_loopback(parts.netloc):
        return f"{parts.scheme}://{parts.netloc}"
    raise ServiceError(
        ErrorCode.INTERNAL_ERROR, "the service does not know its public address; set TRANSCRIBE_PUBLIC_BASE_URL"
    )


Handler = Callable[..., Any]


def _problem_for(exc: Exception, req: func.HttpRequest) -> func.HttpResponse:
    instance = urlsplit(req.url).path
    if isinstance(exc, ServiceError):
        if exc.code.status >= 500:
            logger.warning("%s %s failed: %s", req.method, instance, exc)
        return problem_response(exc, instance)
    logger.error("unhandled error in %s %s", req.method, instance, exc_info=exc)
    error = ServiceError(ErrorCode.INTERNAL_ERROR, "an unexpected error occurred; it has been logged")
    return problem_response(error, instance)


def api_errors(handler: Handler) -> Handler:
    """Every failure becomes problem+json; works for sync and async handlers, extra bindings passed through."""
    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def async_wrapper(req: func.HttpRequest, **bindings: Any) -> func.HttpResponse:
            try:
                response: func.HttpResponse = await handler(req, **bindings)
            except Exception as exc:
                return _problem_for(exc, req)
            return response

        return async_wrapper

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest, **bindings: Any) -> func.HttpResponse:
        try:
            response: func.HttpResponse = handler(req, **bindings)
        except Exception as exc:
            return _problem_for(exc, req)
        return response

    return wrapper
