"""The Durable HTTP API under ``/runtime/webhooks/durabletask/``: what ``DurableOrchestrationClient`` calls (it
is the binding's ``rpcBaseUrl``) and the public instance-management API, with Azure's status codes and bodies
(protocol §5.2-5.3). Bodies are JSON or empty, since the SDK parses every response as JSON.
"""

from __future__ import annotations

import json
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

PREFIX = "/runtime/webhooks/durabletask"
TASK_HUB = "DevHostHub"
_PAGE = 100
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


def _management_urls(origin: str, instance_id: str) -> dict[str, str]:
    base, query = f"{origin}{PREFIX}", f"taskHub={TASK_HUB}&connection=Storage"
    return {key: url.format(base=base, id=instance_id, q=query) for key, url in _MANAGEMENT.items()}


def binding_json(origin: str) -> str:
    """The ``durableClient`` binding value, key order as the extension writes it (§5.1)."""
    base = f"{origin}{PREFIX}"
    return json.dumps(
        {
            "taskHubName": TASK_HUB,
            "connectionName": None,
            "creationUrls": {
                "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?",
                "createAndWaitOnNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
                "?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&",
            },
            "managementUrls": {"id": "INSTANCEID", **_management_urls(origin, "INSTANCEID")},
            "baseUrl": base,
            "requiredQueryStringParameters": "",
            "rpcBaseUrl": f"{base}/",
            "httpBaseUrl": None,
        }
    )


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


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


class DurableHttpApi:
    def __init__(self, engine: DurableEngine) -> None:
        self.engine = engine

    def routes(self) -> list[Route]:
        p = PREFIX
        return [
            Route(f"{p}/orchestrators/{{name}}", self.start, methods=["POST"]),
            Route(f"{p}/orchestrators/{{name}}/{{instance_id}}", self.start, methods=["POST"]),
            Route(f"{p}/instances", self.list_or_purge, methods=["GET", "DELETE"]),
            Route(f"{p}/instances/", self.list_or_purge, methods=["GET", "DELETE"]),
            Route(f"{p}/instances/{{instance_id}}", self.status_or_purge, methods=["GET", "DELETE"]),
            Route(f"{p}/instances/{{instance_id}}/raiseEvent/{{event}}", self.raise_event, methods=["POST"]),
            Route(f"{p}/instances/{{instance_id}}/{{operation}}", self.operate, methods=["POST"]),
        ]

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args)

    async def start(self, request: Request) -> Response:
        body = (await request.body()).decode() or None
        if body is not None:
            try:
                json.loads(body)
            except ValueError:
                return JSONResponse("Invalid JSON content", status_code=400)
        try:
            instance_id = await self._call(
                self.engine.start_new, request.path_params["name"], request.path_params.get("instance_id"), body
            )
        except ClientError as exc:
            return _error(exc)
        urls = _management_urls(_origin(request), quote(instance_id, safe=""))
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
        where, params = _filters(request)
        if request.method == "DELETE":
            if "createdTimeFrom" not in request.query_params:
                return JSONResponse({"Message": "createdTimeFrom is required"}, status_code=400)
            found = await self._call(self.engine.query, where, params)
            deleted = await self._call(self.engine.purge, [i.instance_id for i in found])
            return JSONResponse({"instancesDeleted": deleted}) if deleted else Response(status_code=404)
        found = await self._call(self.engine.query, where, params)
        top = int(request.query_params.get("top") or _PAGE)
        start = int(request.headers.get("x-ms-continuation-token") or 0)
        page = found[start : start + top]
        headers = {"x-ms-continuation-token": str(start + top)} if start + top < len(found) else {}
        show_input = _flag(request, "showInput", True)
        return JSONResponse([status_json(i, show_input) for i in page], headers=headers)

    async def raise_event(self, request: Request) -> Response:
        body = (await request.body()).decode()
        try:
            input_text = json.dumps(json.loads(body)) if body else None
        except ValueError:
            return JSONResponse({"Message": "Invalid JSON content"}, status_code=400)
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
