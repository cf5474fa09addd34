"""Serve the app's HTTP functions on ``/{routePrefix}/...`` as the Functions host does, over ASGI.

Requests become ``azure.functions.HttpRequest`` objects and responses come back from ``HttpResponse``, so the
app's code cannot tell this host from Azure's. Synchronous functions run on a bounded thread pool, like the
Python worker's (``PYTHON_THREADPOOL_THREAD_COUNT``). Host-level answers (401 for a missing key, 404 for no
route, 500 for an unhandled exception) have empty bodies, as Azure's do.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import anyio
import azure.functions as func
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.routing import Route as StarletteRoute

from devhost.app_loader import HttpFunction
from devhost.easy_auth import EasyAuth, Unauthorized
from devhost.invoker import Invoker
from devhost.keys import HostKeys
from devhost.routing import Router

logger = logging.getLogger("devhost.http")

# The Functions host refuses request bodies over FUNCTIONS_REQUEST_BODY_SIZE_LIMIT bytes, 104,857,600 (100 MiB) by
# default, with an empty 413, before any function runs (azure-functions-host
# src/WebJobs.Script.WebHost/Middleware/HttpRequestBodySizeMiddleware.cs sets Kestrel's MaxRequestBodySize; docs:
# learn.microsoft.com/azure/azure-functions/functions-app-settings#functions_request_body_size_limit).
DEFAULT_MAX_REQUEST_BYTES = 104_857_600


def max_request_bytes() -> int:
    return int(os.environ.get("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT") or DEFAULT_MAX_REQUEST_BYTES)


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request) -> bytes:
    """The whole body, or :class:`BodyTooLarge` as soon as it is known to exceed the host's limit: from a declared
    Content-Length before reading a byte (as Kestrel does), else while it streams in."""
    limit = max_request_bytes()
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def query_params(request: Request) -> dict[str, str]:
    """The query as the Python worker gets it from Azure's host: a repeated name's values joined by commas
    (``StringValues.ToString()`` in azure-functions-host src/WebJobs.Script.Grpc/MessageExtensions/
    GrpcMessageConversionExtensions.cs, ``http.Query.Add(pair.Key, value)``), not the last value alone."""
    return {name: ",".join(request.query_params.getlist(name)) for name in request.query_params}


def _to_func_request(
    request: Request, body: bytes, route_params: dict[str, str], easy_auth: EasyAuth
) -> func.HttpRequest:
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    headers = easy_auth.headers(headers)
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=query_params(request),
        route_params=route_params,
        body=body,
    )


def _to_response(result: Any) -> Response:
    if isinstance(result, func.HttpResponse):
        headers = dict(result.headers)
        if not any(k.lower() == "content-type" for k in headers) and result.mimetype:
            charset = f"; charset={result.charset}" if result.mimetype.startswith("text/") else ""
            headers["Content-Type"] = f"{result.mimetype}{charset}"
        return Response(content=result.get_body(), status_code=result.status_code, headers=headers)
    if result is None:
        return Response(status_code=204)
    return Response(content=str(result), media_type="text/plain")


class FunctionsHttpHost:
    def __init__(
        self,
        functions: list[HttpFunction],
        keys: HostKeys,
        invoker: Invoker,
        prefix: str = "api",
        extra_routes: Sequence[BaseRoute] | None = None,
        easy_auth: EasyAuth | None = None,
    ) -> None:
        self.functions = functions
        self.easy_auth = easy_auth or EasyAuth()
        self.extra_routes = list(extra_routes or [])
        self.invoker = invoker
        self.keys = keys
        self.prefix = prefix.strip("/")
        self._router: Router[HttpFunction] = Router()
        for function in functions:
            self._router.add(function.route, function.methods, function)
        threads = int(os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "0") or 0) or min(32, (os.cpu_count() or 1) + 4)
        self._limiter = anyio.CapacityLimiter(threads)

    def asgi(self) -> Starlette:
        return Starlette(
            routes=[
                StarletteRoute("/admin/host/ping", self._ping, methods=["GET", "POST"]),
                StarletteRoute("/admin/host/status", self._status, methods=["GET"]),
                StarletteRoute("/admin/functions", self._list_functions, methods=["GET"]),
                *self.extra_routes,
                StarletteRoute(
                    "/{path:path}",
                    self._dispatch,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                ),
            ]
        )

    async def _ping(self, request: Request) -> Response:
        return Response(status_code=200)

    async def _status(self, request: Request) -> Response:
        if not self.keys.allows("admin", request):
            return Response(status_code=401)
        return JSONResponse({"state": "Running", "functions": len(self.functions)})

    async def _list_functions(self, request: Request) -> Response:
        if not self.keys.allows("admin", request):
            return Response(status_code=401)
        return JSONResponse(
            [
                {
                    "name": f.name,
                    "route": f"{self.prefix}/{f.route}",
                    "methods": sorted(f.methods),
                    "authLevel": f.auth_level,
                }
                for f in self.functions
            ]
        )

    async def _dispatch(self, request: Request) -> Response:
        path = request.path_params["path"]
        if self.prefix:
            head, _, rest = path.partition("/")
            if head.lower() != self.prefix.lower():
                return Response(status_code=404)
            path = rest
        found = self._router.match(path, request.method)
        if found is None:
            return Response(status_code=404)
        function, route_params = found
        if not self.keys.allows(function.auth_level, request):
            return Response(status_code=401)
        try:
            body = await read_body(request)
        except BodyTooLarge:
            return Response(status_code=413)
        try:
            incoming = _to_func_request(request, body, route_params, self.easy_auth)
        except Unauthorized:
            return Response(status_code=401)
        started = time.perf_counter()
        response = await self._invoke(function, incoming)
        logger.info(
            "%s %s -> %s %s (%.1f ms)",
            request.method,
            request.url.path,
            function.name,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    async def _invoke(self, function: HttpFunction, req: func.HttpRequest) -> Response:
        def run_sync(call: Any) -> Any:
            return anyio.to_thread.run_sync(call, limiter=self._limiter)

        try:
            result = await self.invoker.call_async(function.info, {function.arg_name: req}, run_sync)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("function %s raised", function.name)
            return Response(status_code=500)
        return _to_response(result)
