"""A tiny Function App for the trigger tests: every function records its calls in ``CALLS``."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

app = func.FunctionApp()


class Calls:
    """Thread-safe record of invocations, by function name, that tests can wait on."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._calls: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def add(self, function: str, **record: Any) -> None:
        with self._changed:
            self._calls[function].append({"at": time.monotonic(), **record})
            self._changed.notify_all()

    def of(self, function: str) -> list[dict[str, Any]]:
        with self._changed:
            return list(self._calls[function])

    def wait_for(
        self, function: str, done: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 10.0
    ) -> list[dict[str, Any]]:
        with self._changed:
            self._changed.wait_for(lambda: done(self._calls[function]), timeout=timeout_s)
            return list(self._calls[function])

    def clear(self) -> None:
        with self._changed:
            self._calls.clear()


CALLS = Calls()


@app.queue_trigger(arg_name="msg", queue_name="trigger-ok", connection="Storage")
def queue_ok(msg: func.QueueMessage) -> None:
    CALLS.add(
        "queue_ok",
        id=msg.id,
        body=msg.get_body(),
        dequeue_count=msg.dequeue_count,
        insertion_time=msg.insertion_time,
        expiration_time=msg.expiration_time,
        time_next_visible=msg.time_next_visible,
        pop_receipt=msg.pop_receipt,
    )


@app.queue_trigger(arg_name="msg", queue_name="trigger-async", connection="Storage")
async def queue_async(msg: func.QueueMessage) -> None:
    CALLS.add("queue_async", body=msg.get_body())


@app.queue_trigger(arg_name="msg", queue_name="trigger-slow", connection="Storage")
def queue_slow(msg: func.QueueMessage) -> None:
    """Runs for as many seconds as the body says, longer than the test's fetch visibility."""
    started = time.monotonic()
    time.sleep(float(msg.get_body()))
    CALLS.add("queue_slow", id=msg.id, dequeue_count=msg.dequeue_count, started=started)


@app.queue_trigger(arg_name="msg", queue_name="trigger-failing", connection="Storage")
def queue_failing(msg: func.QueueMessage) -> None:
    CALLS.add("queue_failing", body=msg.get_body(), dequeue_count=msg.dequeue_count)
    raise RuntimeError("this function always fails")


@app.blob_trigger(
    arg_name="client", path="trigger-uploads/{name}", connection="Storage", source=func.BlobSource.EVENT_GRID
)
def blob_client(client: blob.BlobClient, name: str) -> None:
    props = client.get_blob_properties()  # metadata only: the content is never downloaded
    CALLS.add("blob_client", name=name, etag=props.etag, size=props.size, client_type=type(client))


@app.blob_trigger(
    arg_name="event", path="trigger-events/{job_id}/{name}", connection="Storage", source=func.BlobSource.EVENT_GRID
)
def blob_event(event: func.EventGridEvent, job_id: str, name: str) -> None:
    CALLS.add("blob_event", event=event, job_id=job_id, name=name)


@app.blob_trigger(
    arg_name="client", path="trigger-failing/{name}", connection="Storage", source=func.BlobSource.EVENT_GRID
)
def blob_failing(client: blob.BlobClient) -> None:
    CALLS.add("blob_failing", name=client.blob_name)
    raise RuntimeError("this function always fails")
