"""The devhost's queue and blob triggers against a real Azurite, with the Functions host's semantics."""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobBlock, BlobClient, BlobServiceClient, ContainerClient, ContentSettings
from azure.storage.queue import QueueClient

from devhost.app_loader import AppIndex, FunctionInfo, index_app
from devhost.azurite import Azurite
from devhost.invoker import Invoker
from devhost.triggers import (
    BlobTriggerListener,
    QueueTriggerListener,
    TriggerListener,
    receipt_name,
    start_trigger_listeners,
    stop_all,
)
from devhost.triggers.config import QueueOptions, queue_options

APP_DIR = Path(__file__).resolve().parent.parent / "apps" / "trigger_app"
HOST_ID = "trigger-tests"
BLOB_POLL_S = 0.1

Calls = Any  # tests/apps/trigger_app/function_app.py:Calls, loaded by path


def _load_app_module() -> ModuleType:
    """By path under its own name: ``function_app`` is already the repository's real app."""
    spec = importlib.util.spec_from_file_location("trigger_test_app", APP_DIR / "function_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def azurite() -> Iterator[Azurite]:
    with Azurite() as running:
        yield running


@pytest.fixture(scope="module")
def app_module() -> ModuleType:
    return _load_app_module()


@pytest.fixture(scope="module")
def index(app_module: ModuleType) -> AppIndex:
    return index_app(app_module.app)  # get_functions() is read once, as the host does


@pytest.fixture
def conn(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> str:
    """Per test: the root conftest clears ``Storage*`` variables before every test."""
    monkeypatch.setenv("Storage", azurite.connection_string)
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.setenv("AzureFunctionsJobHost__id", HOST_ID)
    return azurite.connection_string


@pytest.fixture
def calls(app_module: ModuleType) -> Calls:
    app_module.CALLS.clear()
    return app_module.CALLS


@pytest.fixture
def invoker() -> Iterator[Invoker]:
    running = Invoker()
    yield running
    running.close()


@pytest.fixture
def listeners() -> Iterator[list[TriggerListener]]:
    """Whatever a test starts is stopped here, even when it fails."""
    started: list[TriggerListener] = []
    yield started
    stop_all(started)


@pytest.fixture
def no_downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records any attempt to read a blob's content: the blob trigger must never do it."""
    attempts: list[str] = []

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        attempts.append(type(self).__name__)
        raise AssertionError("blob content was read")

    monkeypatch.setattr(BlobClient, "download_blob", refuse)
    monkeypatch.setattr(ContainerClient, "download_blob", refuse)
    return attempts


def fn(index: AppIndex, name: str) -> FunctionInfo:
    return next(f for f in index.functions if f.name == name)


def queue(conn: str, name: str) -> QueueClient:
    client = QueueClient.from_connection_string(conn, name)
    try:
        client.create_queue()
    except ResourceExistsError:
        client.clear_messages()
    return client


def put(client: QueueClient, body: bytes) -> str:
    """As a producer using the Functions default encoding (base64) does."""
    return str(client.send_message(base64.b64encode(body).decode("ascii")).id)


def container(conn: str, name: str) -> ContainerClient:
    client = BlobServiceClient.from_connection_string(conn).get_container_client(name)
    with contextlib.suppress(ResourceExistsError):
        client.create_container()
    return client


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def queue_length(client: QueueClient) -> int:
    return len(client.peek_messages(max_messages=32))


def start(listeners: list[TriggerListener], listener: TriggerListener) -> TriggerListener:
    listener.start()
    listeners.append(listener)
    return listener


def queue_listener(index: AppIndex, invoker: Invoker, name: str) -> QueueTriggerListener:
    return QueueTriggerListener(fn(index, name), invoker, queue_options(APP_DIR))


def blob_listener(index: AppIndex, invoker: Invoker, name: str) -> BlobTriggerListener:
    options = queue_options(APP_DIR)
    return BlobTriggerListener(
        fn(index, name), invoker, host_id=HOST_ID, queue_options=options, poll_interval_s=BLOB_POLL_S
    )


# queue trigger


def test_queue_message_reaches_the_function_like_the_worker_builds_it(
    conn: str, index: AppIndex, invoker: Invoker, calls: Calls, listeners: list[TriggerListener]
) -> None:
    q = queue(conn, "trigger-ok")
    sent = put(q, b'{"job_id": "j1"}')
    start(listeners, queue_listener(index, invoker, "queue_ok"))

    [call] = calls.wait_for("queue_ok", lambda c: len(c) >= 1)
    assert call["id"] == sent
    assert call["body"] == b'{"job_id": "j1"}'
    assert call["dequeue_count"] == 1
    assert call["pop_receipt"]
    assert call["insertion_time"] <= call["time_next_visible"] and call["expiration_time"] > call["insertion_time"]
    assert wait_until(lambda: queue_length(q) == 0), "a message is deleted once the function succeeds"
    time.sleep(0.3)
    assert len(calls.of("queue_ok")) == 1


def test_queue_latency_from_put_to_invocation_is_under_a_second(
    conn: str, index: AppIndex, invoker: Invoker, calls: Calls, listeners: list[TriggerListener]
) -> None:
    q = queue(conn, "trigger-async")
    start(listeners, queue_listener(index, invoker, "queue_async"))  # an async def function
    time.sleep(1.2)  # idle long enough for the poll back-off to reach maxPollingInterval
    latencies = []
    for i in range(3):
        sent_at = time.monotonic()
        put(q, f"m{i}".encode())
        [*_, call] = calls.wait_for("queue_async", lambda c, n=i + 1: len(c) >= n)
        latencies.append(call["at"] - sent_at)
        time.sleep(0.7)
    assert [c["body"] for c in calls.of("queue_async")] == [b"m0", b"m1", b"m2"]
    assert max(latencies) < 1.0, latencies


def test_a_failing_message_goes_to_the_poison_queue_after_exactly_five_attempts(
    conn: str, index: AppIndex, invoker: Invoker, calls: Calls, listeners: list[TriggerListener]
) -> None:
    q, poison = queue(conn, "trigger-failing"), queue(conn, "trigger-failing-poison")
    stored_text = base64.b64encode(b"doomed").decode("ascii")
    q.send_message(stored_text)
    start(listeners, queue_listener(index, invoker, "queue_failing"))

    assert wait_until(lambda: queue_length(poison) == 1), calls.of("queue_failing")
    [moved] = poison.peek_messages()
    assert moved.content == stored_text, "the poison queue gets the stored text unchanged"
    assert queue_length(q) == 0
    time.sleep(0.5)
    attempts = calls.of("queue_failing")
    assert [a["dequeue_count"] for a in attempts] == [1, 2, 3, 4, 5]
    assert {a["body"] for a in attempts} == {b"doomed"}


def test_a_message_that_does_not_decode_is_poisoned_without_a_call(
    conn: str, index: AppIndex, invoker: Invoker, calls: Calls, listeners: list[TriggerListener]
) -> None:
    q, poison = queue(conn, "trigger-ok"), queue(conn, "trigger-ok-poison")
    q.send_message("not base64 at all!")
    start(listeners, queue_listener(index, invoker, "queue_ok"))

    assert wait_until(lambda: queue_length(poison) == 1)
    assert poison.peek_messages()[0].content == "not base64 at all!"
    assert calls.of("queue_ok") == []


def test_fifty_messages_are_processed_quickly_in_batches(
    conn: str, index: AppIndex, invoker: Invoker, calls: Calls, listeners: list[TriggerListener]
) -> None:
    q = queue(conn, "trigger-ok")
    bodies = {f"batch-{i}".encode() for i in range(50)}
    for body in sorted(bodies):
        put(q, body)
    began = time.monotonic()
    start(listeners, queue_listener(index, invoker, "queue_ok"))

    done = calls.wait_for("queue_ok", lambda c: len(c) >= 50, timeout_s=15)
    elapsed = time.monotonic() - began
    assert {c["body"] for c in done} == bodies
    assert elapsed < 5.0, elapsed
    assert wait_until(lambda: queue_length(q) == 0)
    assert all(c["dequeue_count"] == 1 for c in done)


def test_long_runs_keep_their_messages_hidden_and_a_batch_runs_in_parallel(
    conn: str, index: AppIndex, invoker: Invoker, calls: Calls, listeners: list[TriggerListener]
) -> None:
    q = queue(conn, "trigger-slow")
    sent = {put(q, b"1.5") for _ in range(4)}
    # messages are fetched hidden for 1 s only: without renewal each would reappear and run twice
    listener = QueueTriggerListener(fn(index, "queue_slow"), invoker, queue_options(APP_DIR), fetch_visibility_s=1)
    start(listeners, listener)

    done = calls.wait_for("queue_slow", lambda c: len(c) >= 4)
    assert {c["id"] for c in done} == sent
    assert max(c["started"] for c in done) - min(c["started"] for c in done) < 0.5, "one batch, run in parallel"
    # the approximate count includes hidden messages: 0 means every delete held a valid pop receipt
    assert wait_until(lambda: q.get_queue_properties().approximate_message_count == 0, timeout_s=1.0)
    time.sleep(1.8)  # long enough for a message that had reappeared to run a second time
    assert [c["dequeue_count"] for c in calls.of("queue_slow")] == [1, 1, 1, 1]


def listener_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("queue-", "blob-"))]


def test_stop_is_quick_and_leaves_no_thread_behind(conn: str, index: AppIndex, invoker: Invoker, calls: Calls) -> None:
    q = queue(conn, "trigger-ok")
    listener = queue_listener(index, invoker, "queue_ok")
    blobs = blob_listener(index, invoker, "blob_client")
    listener.start()
    blobs.start()
    put(q, b"before stop")  # so that the pool has worker threads to end
    calls.wait_for("queue_ok", lambda c: len(c) >= 1)
    began = time.monotonic()
    stop_all([listener, blobs])
    assert time.monotonic() - began < 2.0
    assert wait_until(lambda: listener_threads() == [], timeout_s=2.0), listener_threads()


# blob trigger


def test_blob_trigger_fires_once_per_committed_version(
    conn: str,
    index: AppIndex,
    invoker: Invoker,
    calls: Calls,
    listeners: list[TriggerListener],
    no_downloads: list[str],
) -> None:
    uploads = container(conn, "trigger-uploads")
    staged = uploads.get_blob_client("job-1/staged.wav")
    staged.stage_block("YmxrLTAwMDAwMA==", b"a" * 1024)  # a block, no Put Block List yet
    start(listeners, blob_listener(index, invoker, "blob_client"))
    uploads.upload_blob("job-2/whole.wav", b"b" * 2048)

    calls.wait_for("blob_client", lambda c: any(x["name"] == "job-2/whole.wav" for x in c))
    time.sleep(5 * BLOB_POLL_S)
    assert [c["name"] for c in calls.of("blob_client")] == ["job-2/whole.wav"], "staged blocks fire nothing"

    staged.commit_block_list([BlobBlock("YmxrLTAwMDAwMA==")])
    calls.wait_for("blob_client", lambda c: len(c) >= 2)
    uploads.upload_blob("job-2/whole.wav", b"c" * 4096, overwrite=True)  # a new version
    calls.wait_for("blob_client", lambda c: len(c) >= 3)
    time.sleep(5 * BLOB_POLL_S)

    fired = calls.of("blob_client")
    assert [(c["name"], c["size"]) for c in fired] == [
        ("job-2/whole.wav", 2048),
        ("job-1/staged.wav", 1024),
        ("job-2/whole.wav", 4096),
    ]
    assert len({c["etag"] for c in fired}) == 3
    assert all(c["client_type"] is BlobClient for c in fired), "the SDK-type binding hands over a BlobClient"
    assert no_downloads == []
    hosts = BlobServiceClient.from_connection_string(conn).get_container_client("azure-webjobs-hosts")
    for c in fired:
        name = receipt_name(HOST_ID, "blob_client", ("trigger-uploads", c["name"], c["etag"].strip('"')))
        assert hosts.get_blob_client(name).exists(), name


def test_a_restarted_host_does_not_fire_again_but_catches_up(
    conn: str, index: AppIndex, invoker: Invoker, calls: Calls, listeners: list[TriggerListener]
) -> None:
    uploads = container(conn, "trigger-uploads")
    uploads.upload_blob("restart/before.wav", b"x")
    first = start(listeners, blob_listener(index, invoker, "blob_client"))
    calls.wait_for("blob_client", lambda c: any(x["name"] == "restart/before.wav" for x in c))
    first.stop()
    listeners.remove(first)
    uploads.upload_blob("restart/while-down.wav", b"y")  # Event Grid would deliver it once the host is back

    start(listeners, blob_listener(index, invoker, "blob_client"))
    calls.wait_for("blob_client", lambda c: any(x["name"] == "restart/while-down.wav" for x in c))
    time.sleep(5 * BLOB_POLL_S)
    names = [c["name"] for c in calls.of("blob_client") if c["name"].startswith("restart/")]
    assert sorted(names) == ["restart/before.wav", "restart/while-down.wav"]


def test_event_grid_event_and_path_values(
    conn: str, index: AppIndex, invoker: Invoker, calls: Calls, listeners: list[TriggerListener]
) -> None:
    events = container(conn, "trigger-events")
    blob = events.upload_blob(
        "job-7/talk.flac", b"z" * 300, content_settings=ContentSettings(content_type="audio/flac")
    )
    start(listeners, blob_listener(index, invoker, "blob_event"))

    [call] = calls.wait_for("blob_event", lambda c: len(c) >= 1)
    event: func.EventGridEvent = call["event"]
    assert (call["job_id"], call["name"]) == ("job-7", "talk.flac")
    assert isinstance(event, func.EventGridEvent)
    assert event.event_type == "Microsoft.Storage.BlobCreated"
    assert event.subject == "/blobServices/default/containers/trigger-events/blobs/job-7/talk.flac"
    data = event.get_json()
    assert data["api"] == "PutBlockList"
    assert data["url"] == blob.url
    assert (data["contentType"], data["contentLength"]) == ("audio/flac", 300)
    assert data["eTag"] == blob.get_blob_properties().etag
    assert event.event_time is not None and event.id


def test_a_failing_blob_function_is_tried_five_times_then_poisoned(
    conn: str, index: AppIndex, invoker: Invoker, calls: Calls, listeners: list[TriggerListener]
) -> None:
    poison = queue(conn, "webjobs-blobtrigger-poison")
    failing = container(conn, "trigger-failing")
    etag = str(failing.upload_blob("bad.wav", b"q").get_blob_properties().etag).strip('"')
    start(listeners, blob_listener(index, invoker, "blob_failing"))

    assert wait_until(lambda: queue_length(poison) == 1)
    message = json.loads(base64.b64decode(poison.peek_messages()[0].content))
    assert message == {
        "Type": "BlobTrigger",
        "FunctionId": "Host.Functions.blob_failing",
        "BlobType": "BlockBlob",
        "ContainerName": "trigger-failing",
        "BlobName": "bad.wav",
        "ETag": etag,
    }
    time.sleep(5 * BLOB_POLL_S)
    assert len(calls.of("blob_failing")) == 5


def test_start_trigger_listeners_serves_every_queue_and_blob_function(
    conn: str, index: AppIndex, invoker: Invoker, calls: Calls, listeners: list[TriggerListener]
) -> None:
    started = start_trigger_listeners(index, invoker, APP_DIR, blob_poll_interval_s=BLOB_POLL_S)
    listeners.extend(started)
    assert sorted(type(x).__name__ for x in started) == ["BlobTriggerListener"] * 3 + ["QueueTriggerListener"] * 4
    q = queue(conn, "trigger-ok")
    put(q, b"wired")
    calls.wait_for("queue_ok", lambda c: len(c) >= 1)
    assert [c["body"] for c in calls.of("queue_ok")] == [b"wired"]


def test_options_come_from_host_json() -> None:
    assert queue_options(APP_DIR) == QueueOptions(max_polling_interval_s=0.5)
