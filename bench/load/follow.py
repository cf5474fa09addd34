"""Following jobs as their customers do: poll each one after its ``Retry-After``, fetch the transcript once done,
and, beside them, a dashboard listing the caller's jobs every second."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx

from bench.load.sessions import LoadFailure
from bench.load.timed import Recorder, timed


async def follow(
    recorder: Recorder, api: httpx.AsyncClient, job_id: str, deadline: float, max_poll_s: float | None
) -> dict[str, Any]:
    """``GET /api/jobs/{id}`` until it answers 200 (completed); a final failure (422/409) or the deadline is a
    lost job. Sleeps the ``Retry-After`` the service asked for (at most ``max_poll_s`` when given)."""
    while time.monotonic() < deadline:
        response = await timed(recorder, "get_job", api, "GET", f"/api/jobs/{job_id}")
        if response is None or response.status_code not in (200, 202):
            raise LoadFailure(f"job {job_id}: {response.status_code if response is not None else 'no answer'}")
        if response.status_code == 200:
            return dict(response.json())
        wait = float(response.headers.get("Retry-After", "5"))
        await asyncio.sleep(min(wait, max_poll_s) if max_poll_s else wait)
    raise LoadFailure(f"job {job_id} still running at the deadline")


async def transcript(recorder: Recorder, api: httpx.AsyncClient, job_id: str, fmt: str) -> str:
    params = {"format": fmt}
    response = await timed(recorder, "transcript", api, "GET", f"/api/jobs/{job_id}/transcript", params=params)
    if response is None or response.status_code != 200:
        raise LoadFailure(f"transcript of {job_id}")
    return response.text


async def dashboard(recorder: Recorder, api: httpx.AsyncClient, stop: asyncio.Event, every_s: float = 1.0) -> None:
    """``GET /api/jobs?limit=50`` every second until ``stop``: the listing's latency under the load."""
    while not stop.is_set():
        await timed(recorder, "list_jobs", api, "GET", "/api/jobs", params={"limit": "50"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def list_all(recorder: Recorder, api: httpx.AsyncClient) -> list[str]:
    """Every job id the listing holds, page by page (100 a page, the most it gives)."""
    ids: list[str] = []
    params: dict[str, str] = {"limit": "100"}
    while True:
        response = await timed(recorder, "list_jobs", api, "GET", "/api/jobs", params=params)
        if response is None or response.status_code != 200:
            raise LoadFailure("listing the jobs")
        page = response.json()
        ids += [job["job_id"] for job in page["jobs"]]
        if not page.get("continuation"):
            return ids
        params = {"limit": "100", "continuation": page["continuation"]}
