"""The async functions never block the event loop on storage: a slow storage call does not hold up other requests.

The Python worker runs every async function on one event loop, so a blocking call in one (the storage SDK's sync
clients are blocking) stalls every other invocation of the app until it returns. Here storage is made slow (1 s
per call) and a concurrent "request" (a coroutine ticking every 10 ms) must keep running while the handler waits.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import azure.functions as func
import pytest

import functions.api.health
import functions.api.jobs
import functions.pipeline.activities
import functions.pipeline.ingest
from shared.config import get_settings
from shared.errors import ErrorCode, PermanentError
from shared.jobs.records import JobRecord, JobStatus
from tests.support.records import job_record

SLOW_S = 1.0
JOB_ID = "01900000-0000-7000-8000-000000000001"


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("Storage", "UseDevelopmentStorage=true")
    monkeypatch.setenv("WEBSITE_HOSTNAME", "localhost:7071")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def slow(result: Any = None, error: Exception | None = None) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        time.sleep(SLOW_S)  # what a blocking storage call does to the thread it runs on
        if error:
            raise error
        return result

    return call


def record(status: JobStatus = JobStatus.AWAITING_UPLOAD) -> JobRecord:
    return job_record(JOB_ID, status)


class Client:
    """Just enough of DurableOrchestrationClient: no orchestration exists."""

    async def get_status(self, instance_id: str) -> None:
        return None

    async def terminate(self, instance_id: str, reason: str) -> None:
        return None


def largest_stall(handler: Awaitable[Any]) -> tuple[float, Any]:
    """Run the handler beside a ticker on one loop; the longest the ticker waited between ticks."""

    async def run() -> tuple[float, Any]:
        gaps: list[float] = []

        async def ticker() -> None:
            last = time.perf_counter()
            for _ in range(int(SLOW_S / 0.01) + 20):
                await asyncio.sleep(0.01)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0.05)  # the ticker is running before the handler starts
        result = await handler
        await ticking
        return max(gaps), result

    return asyncio.run(run())


def user_function(builder: Any) -> Callable[..., Awaitable[Any]]:
    """The handler under the durable client decorator (which would build a real client from binding JSON)."""
    function: Callable[..., Awaitable[Any]] = builder._function.get_user_function()
    return getattr(function, "__wrapped__", function)


def request(method: str = "GET") -> func.HttpRequest:
    return func.HttpRequest(
        method=method, url=f"http://localhost:7071/api/jobs/{JOB_ID}", route_params={"job_id": JOB_ID}, body=b""
    )


# The bound (0.25 s) is a quarter of the storage delay: with a blocked loop the ticker waits the whole second; in a
# thread, it keeps its 10 ms rhythm (measured: under 30 ms here, with both cores busy).
STALL_LIMIT_S = 0.25


def test_job_status_waits_for_storage_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(functions.api.jobs, "_record", slow(record()))
    monkeypatch.setattr(functions.api.jobs, "_upload_committed", slow(False))
    stall, response = largest_stall(user_function(functions.api.jobs.get_job)(request(), client=Client()))
    assert response.status_code == 202
    assert stall < STALL_LIMIT_S, f"the event loop stalled {stall:.2f} s"


def test_cancel_waits_for_storage_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    canceled = record(JobStatus.CANCELED)

    class Store:
        update = staticmethod(slow(canceled))

    monkeypatch.setattr(functions.api.jobs, "_record", slow(record()))
    monkeypatch.setattr(functions.api.jobs, "_jobs", lambda: Store())
    stall, response = largest_stall(user_function(functions.api.jobs.cancel_job)(request("DELETE"), client=Client()))
    assert response.status_code == 202
    assert stall < STALL_LIMIT_S, f"the event loop stalled {stall:.2f} s"


def test_the_blob_trigger_waits_for_storage_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    class Store:
        get = staticmethod(slow(error=PermanentError(ErrorCode.JOB_NOT_FOUND, "no such job")))

    class Upload:
        blob_name = f"{JOB_ID}/a.wav"

    monkeypatch.setattr(functions.pipeline.activities, "jobs", lambda: Store())
    stall, _ = largest_stall(user_function(functions.pipeline.ingest.ingest)(upload=Upload(), client=Client()))
    assert stall < STALL_LIMIT_S, f"the event loop stalled {stall:.2f} s"


def test_health_waits_for_storage_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    class Container:
        get_container_properties = staticmethod(slow())

    monkeypatch.setattr(functions.api.health.storage, "container", lambda name: Container())
    health = user_function(functions.api.health.health)
    stall, response = largest_stall(
        health(func.HttpRequest("GET", "http://localhost/api/health", body=b""), client=Client())
    )
    assert response.status_code == 200
    assert stall < STALL_LIMIT_S, f"the event loop stalled {stall:.2f} s"


class BusyClient(Client):
    """The durable store answering 503 (what the SDK raises for an unexpected status code)."""

    async def get_status(self, instance_id: str) -> None:
        raise Exception("The operation failed with an unexpected status code 503")


def test_a_busy_orchestration_store_is_a_retryable_503_not_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    running = record().model_copy(update={"status": JobStatus.TRANSCRIBING, "committed_at": record().created_at})
    monkeypatch.setattr(functions.api.jobs, "_record", lambda req: running)
    response = asyncio.run(user_function(functions.api.jobs.get_job)(request(), client=BusyClient()))
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert json.loads(response.get_body())["code"] == "storage_unavailable"
