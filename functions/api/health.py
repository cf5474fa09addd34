"""``GET /api/health``: can this app reach its storage and its durable backend? For probes and dashboards.

Anonymous (platform health checks carry no key), so it says only "ok" or not per dependency, with latency, and
never a connection string, account name or error text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from shared.azure import storage
from shared.config import get_settings

bp = df.Blueprint()
logger = logging.getLogger(__name__)


async def _check(name: str, probe: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await probe()
    except Exception:
        logger.warning("health check %s failed", name, exc_info=True)
        return {"ok": False}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def health(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    async def storage_probe() -> None:
        container = await asyncio.to_thread(lambda: storage.container(get_settings().jobs_container))
        await asyncio.to_thread(container.get_container_properties, retry_total=0, timeout=5)

    async def durable_probe() -> None:
        await client.get_status("health-probe")  # an unknown id: any answer means the backend is there

    checks = {"storage": await _check("storage", storage_probe), "durable": await _check("durable", durable_probe)}
    healthy = all(c["ok"] for c in checks.values())
    body = {"status": "ok" if healthy else "degraded", "checks": checks}
    return func.HttpResponse(
        json.dumps(body),
        status_code=200 if healthy else 503,
        mimetype="application/json",
        headers={"Cache-Control": "no-store"},
    )
