"""The Durable HTTP API, served twice as the extension serves it: the public instance-management API under
``/runtime/webhooks/durabletask/``, which needs the ``durabletask_extension`` system key (or the master key) as
``code``, and the same calls under ``/durabletask/`` on a listener bound to 127.0.0.1 only, with no key: the
binding's ``rpcBaseUrl``, which ``DurableOrchestrationClient`` calls (EXT ``LocalHttpListener.cs``; protocol
§5.1). Azure's status codes and bodies (§5.2-5.3); bodies are JSON or empty, since the SDK parses every response
as JSON.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devhost.durable.engine import ClientError, DurableEngine
from devhost.durable.events import fmt_time
from devhost.durable.status import status_json
from devhost.durable.store import disk_full
from devhost.http_server import BodyTooLarge, read_body

logger = logging.getLogger(__name__)
PREFIX = "/runtime/webhooks/durabletask"
RPC_PREFIX = "/durabletask"
TASK_HUB = "DevHostHub"
_PAGE = 100
FULL_WAIT_S = 30.0  # how long a client call waits for a full disk to have room again before answering 503
_MANAGEMENT = {
    "statusQueryGetUri": "{base}/instances/{id}?{q}",
    "sendEventPostUri": "{base}/instances/{id}/raiseEvent/{{eventName}}?{q}",
    "terminatePostUri": "{base}/instances/{id}/terminate?reason={{text}}&{q}",
    "rewindPostUri": "{base}/instances/{id}/rewind?reason={{text}}&{q}",
    "purgeHistoryDeleteUri": "{base}/instances/{id}?{q}",
    "restartPostUri": "{base}/instances/{id}/restart?{q}",
    "suspendPostUri": "{base}/instances/{id}/suspend?reason={{text}}&{q}",
    "resumePostUri": "{base}/instances/{id}/resume?reason={{text}}&{q}",
}


def _management_urls(origin: str, instance_id: str, system_key: str) -> dict[str, str]:
    base, query = f"{origin}{PREFIX}", f"taskHub={TASK_HUB}&connection=Storage&code={quote(system_key, safe='')}"
    return {key: url.format(base=base, id=instance_id, q=query) for key, url in _MANAGEMENT.items()}


def binding_json(origin: str, rpc_origin: str, system_key: str) -> str:
    """The ``durableClient`` binding value, key order as the extension writes it (§5.1): public URLs carry the
    system key as Azure's do; the client itself calls the keyless loopback listener."""
    base, code = f"{origin}{PREFIX}", f"code={quote(system_key, safe='')}"
    return json.dumps(
        {
            "taskHubName": TASK_HUB,
            "connectionName": None,
            "creationUrls": {
                "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{code}",
                "createAndWaitOnNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
                f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{code}",
            },
            "managementUrls": {"id": "INSTANCEID", **_management_urls(origin, "INSTANCEID", system_key)},
            "baseUrl": base,
            "requiredQueryStringParameters": code,
            "rpcBaseUrl": f"{rpc_origin}{RPC_PREFIX}/",
            "httpBaseUrl": None,
        }
    )


def _flag(request: Request, name: str, default: bool = False) -> bool:
    value = request.query_params.get(name)
    return default if value is None else value.lower() == "true"


def _error(exc: ClientError) -> Response:
    if exc.status in (404, 410) or not str(exc):
        return Response(status_code=exc.status)
    body: dict[str, Any] = {
        "Message": "One or more of the arguments submitted is incorrect",
        "ExceptionMessage": str(exc),
        "ExceptionType": "System.ArgumentException",
    }
    if exc.status >= 500:
        body["Message"] = "Something went wrong while processing your request"
    return JSONResponse(body, status_code=exc.status)


async def _json_body(request: Request) -> tuple[str, Any] | None:
    """The body as JSON text and its parsed value (None when empty), within the host's size limit
    (:class:`BodyTooLarge`); anything not UTF-8 JSON, nested too deeply included, is a ValueError, so that the
    endpoints answer 400 and never 500."""
    text = (await read_body(request)).decode("utf-8")  # UnicodeDecodeError is a ValueError
    if not text:
        return None
    try:
        return text, json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


Endpoint = Callable[[Request], Awaitable[Response]]


class DurableHttpApi:
    def __init__(self, engine: DurableEngine, public_origin: str, system_key: str) -> None:
        self.engine = engine
        self.public_origin, self.system_key = public_origin, system_key

    def routes(self, prefix: str = PREFIX, authorize: Callable[[Request], bool] | None = None) -> list[Route]:
        """The API under ``prefix``; with ``authorize``, a request it refuses gets Azure's empty 401."""

        def guarded(endpoint: Endpoint) -> Endpoint:
            safe = _busy_is_503(endpoint)
            if authorize is None:
                return safe

            async def checked(request: Request) -> Response:
                return await safe(request) if authorize(request) else Response(status_code=401)

            return checked

        p = prefix
        return [
            Route(f"{p}/orchestrators/{{name}}", guarded(self.start), methods=["POST"]),
            Route(f"{p}/orchestrators/{{name}}/{{instance_id}}", guarded(self.start), methods=["POST"]),
            Route(f"{p}/instances", guarded(self.list_or_purge), methods=["GET", "DELETE"]),
            Route(f"{p}/instances/", guarded(self.list_or_purge), methods=["GET", "DELETE"]),
            Route(f"{p}/instances/{{instance_id}}", guarded(self.status_or_purge), methods=["GET", "DELETE"]),
            Route(f"{p}/instances/{{instance_id}}/raiseEvent/{{event}}", guarded(self.raise_event), methods=["POST"]),
            Route(f"{p}/instances/{{instance_id}}/{{operation}}", guarded(self.operate), methods=["POST"]),
        ]

    async def _call(self, fn: Any, *args: Any) -> Any:
        """Run an engine operation; while the store's disk is full, wait up to ``FULL_WAIT_S`` for space (the
        operation's transaction rolled back, so running it again is safe), then answer 503.

        Without the wait a few seconds of full disk failed every raiseEvent and start at once, the app's queue and
        blob triggers spent their five attempts within a second, and segment results and new jobs went to poison
        queues: the jobs hung after space returned.
        """
        waited = 0.0
        while True:
            try:
                return await anyio.to_thread.run_sync(fn, *args)
            except sqlite3.Error as exc:
                if not disk_full(exc) or waited >= FULL_WAIT_S:
                    raise
                if not waited:
                    logger.error("durable store: disk full (%s); waiting up to %.0f s for space", exc, FULL_WAIT_S)
            await anyio.sleep(1.0)
            waited += 1.0

    async def start(self, request: Request) -> Response:
        try:
            parsed = await _json_body(request)
        except BodyTooLarge:
            return Response(status_code=413)
        except ValueError:
            return JSONResponse("Invalid JSON content", status_code=400)
        body = parsed[0] if parsed else None
        try:
            instance_id = await self._call(
                self.engine.start_new, request.path_params["name"], request.path_params.get("instance_id"), body
            )
        except ClientError as exc:
            return _error(exc)
        urls = _management_urls(self.public_origin, quote(instance_id, safe=""), self.system_key)
        return JSONResponse(
            {"id": instance_id, **{k: v for k, v in urls.items() if k != "rewindPostUri"}},
            status_code=202,
            headers={"Location": urls["statusQueryGetUri"], "Retry-After": "10"},
        )

    async def status_or_purge(self, request: Request) -> Response:
        instance_id = request.path_params["instance_id"]
        if request.method == "DELETE":
            deleted = await self._call(self.engine.purge, [instance_id])
            return JSONResponse({"instancesDeleted": deleted}) if deleted else Response(status_code=404)
        show_history = _flag(request, "showHistory")
        inst = await self._call(self.engine.get, instance_id, show_history)
        if inst is None:
            return Response(status_code=404)
        body = status_json(inst, _flag(request, "showInput", True), show_history, _flag(request, "showHistoryOutput"))
        if inst.status in ("Running", "Pending", "ContinuedAsNew", "Suspended"):
            return JSONResponse(body, status_code=202, headers={"Location": str(request.url), "Retry-After": "5"})
        return JSONResponse(body)

    async def list_or_purge(self, request: Request) -> Response:
        try:
            where, params = _filters(request)
            top = int(request.query_params.get("top") or _PAGE)
            start = int(request.headers.get("x-ms-continuation-token") or 0)
        except ValueError as exc:  # a bad date or number is the caller's mistake: 400, not a 500
            return _error(ClientError(400, str(exc)))
        if request.method == "DELETE":
            if "createdTimeFrom" not in request.query_params:
                return JSONResponse({"Message": "createdTimeFrom is required"}, status_code=400)
            found = await self._call(self.engine.query, where, params)
            deleted = await self._call(self.engine.purge, [i.instance_id for i in found])
            return JSONResponse({"instancesDeleted": deleted}) if deleted else Response(status_code=404)
        found = await self._call(self.engine.query, where, params)
        page = found[start : start + top]
        headers = {"x-ms-continuation-token": str(start + top)} if start + top < len(found) else {}
        show_input = _flag(request, "showInput", True)
        return JSONResponse([status_json(i, show_input) for i in page], headers=headers)

    async def raise_event(self, request: Request) -> Response:
        try:
            parsed = await _json_body(request)
        except BodyTooLarge:
            return Response(status_code=413)
        except ValueError:
            return JSONResponse({"Message": "Invalid JSON content"}, status_code=400)
        input_text = json.dumps(parsed[1]) if parsed else None  # re-serialised compactly, as before
        try:
            await self._call(
                self.engine.raise_event, request.path_params["instance_id"], request.path_params["event"], input_text
            )
        except ClientError as exc:
            return _error(exc)
        return Response(status_code=202)

    async def operate(self, request: Request) -> Response:
        operations = {"terminate": self.engine.terminate, "suspend": self.engine.suspend, "resume": self.engine.resume}
        operation = operations.get(request.path_params["operation"])
        if operation is None:
            return Response(status_code=404)
        try:
            await self._call(operation, request.path_params["instance_id"], request.query_params.get("reason"))
        except ClientError as exc:
            return _error(exc)
        return Response(status_code=202)


def _filters(request: Request) -> tuple[str, tuple[Any, ...]]:
    clauses, params = [], []
    q = request.query_params
    if q.get("runtimeStatus"):
        names = [s.strip() for s in q["runtimeStatus"].split(",") if s.strip()]
        clauses.append(f"status IN ({','.join('?' * len(names))})")
        params += names
    for key, op in (("createdTimeFrom", ">="), ("createdTimeTo", "<=")):
        if q.get(key):
            clauses.append(f"created_time {op} ?")
            params.append(fmt_time(datetime.fromisoformat(q[key].replace("Z", "+00:00"))))
    if q.get("instanceIdPrefix"):
        clauses.append("instance_id LIKE ? ESCAPE '\\'")
        params.append(q["instanceIdPrefix"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def _busy_is_503(endpoint: Endpoint) -> Endpoint:
    """A store that cannot answer now (SQLite busy past its timeout, a disk error) is a JSON 503 with Retry-After,
    never a bare 500: callers (the SDK, the status API, Logic Apps) retry a 503 and can parse what they got."""

    async def answered(request: Request) -> Response:
        try:
            return await endpoint(request)
        except sqlite3.Error as exc:
            logger.warning("durable API %s %s: store busy: %s", request.method, request.url.path, exc)
            message = {"Message": "The durable store is busy; retry shortly.", "Detail": type(exc).__name__}
            return JSONResponse(message, status_code=503, headers={"Retry-After": "1"})

    return answered
