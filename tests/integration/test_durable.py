"""The devhost's Durable engine, driven through the real SDK by a small test app (tests/apps/durable_app)."""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from azure.core.exceptions import ResourceExistsError

from devhost.stack import LocalStack

APP_DIR = Path(__file__).resolve().parent.parent / "apps" / "durable_app"
HOOK = "/runtime/webhooks/durabletask"


@pytest.fixture(scope="module")
def durable_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state = tmp_path_factory.mktemp("durable-app-state")
    with LocalStack(app_dir=APP_DIR, env={"TEST_STATE_DIR": str(state)}) as stack:
        stack.test_state = state  # type: ignore[attr-defined]
        yield stack
        log = stack.devhost.log_path.read_text()  # type: ignore[union-attr]
        # A numeric TaskId here means the host numbered ids differently from the SDK (protocol §3.4); a named one
        # is an event raised before its wait, which the SDK reports the same way on Azure.
        assert not re.findall(r"Potential duplicate Task completion for TaskId: \d+", log)


@pytest.fixture
def http(durable_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=durable_stack.base_url, params=durable_stack.durable_params, timeout=30) as client:
        yield client


def start(http: httpx.Client, name: str, payload: Any = None, instance_id: str | None = None) -> str:
    """Start through the public API, encoding the input as the Python client does (a JSON string of JSON)."""
    path = f"{HOOK}/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
    body = json.dumps(json.dumps(payload)) if payload is not None else None
    response = http.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait(http: httpx.Client, instance_id: str, timeout_s: float = 30, until: tuple[str, ...] = ()) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = http.get(f"{HOOK}/instances/{instance_id}")
        if response.status_code == 404 and until:  # a trigger has not created it yet
            assert time.monotonic() < deadline, f"instance {instance_id} never appeared"
            time.sleep(0.05)
            continue
        body = response.json()
        if (until and body["runtimeStatus"] in until) or (not until and response.status_code != 202):
            return body
        assert time.monotonic() < deadline, f"instance {instance_id} still {body['runtimeStatus']}"
        time.sleep(0.05)


def raise_event(http: httpx.Client, instance_id: str, name: str, data: Any) -> int:
    return http.post(
        f"{HOOK}/instances/{instance_id}/raiseEvent/{name}",
        content=json.dumps(json.dumps(data)),
        headers={"content-type": "application/json"},
    ).status_code


def test_fan_out_fan_in_of_200_activities(http: httpx.Client) -> None:
    status = wait(http, start(http, "fan_out", {"n": 200}))
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == [i * i for i in range(200)]
    assert status["input"] == json.dumps({"n": 200})  # the Python client's double encoding, as in Azure


def test_retries_with_backoff_succeed(http: httpx.Client) -> None:
    spec = {"key": uuid.uuid4().hex, "fail_times": 2, "attempts": 4, "first_ms": 300}
    status = wait(http, start(http, "with_retry", spec))
    assert status["output"]["ok"] == "succeeded on attempt 3"
    assert status["output"]["elapsed"] >= 0.6  # two waits of first_retry_interval before attempts 2 and 3


def test_retries_that_exhaust_raise_the_last_error(http: httpx.Client) -> None:
    spec = {"key": uuid.uuid4().hex, "fail_times": 99, "attempts": 3, "first_ms": 100}
    status = wait(http, start(http, "with_retry", spec))
    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["error"] == "Activity function 'flaky' failed:  RuntimeError: attempt 3 failed "


def test_event_beats_timer_and_the_timer_is_canceled(http: httpx.Client) -> None:
    instance_id = start(http, "approval", {"timeout_s": 30})
    wait(http, instance_id, until=("Running",))
    assert raise_event(http, instance_id, "Approval", {"by": "alice"}) == 202
    status = wait(http, instance_id, timeout_s=10)
    assert status["output"] == {"approved": json.dumps({"by": "alice"})}  # a JSON string, as in Azure


def test_timer_beats_a_missing_event(http: httpx.Client) -> None:
    status = wait(http, start(http, "approval", {"timeout_s": 1}), timeout_s=15)
    assert status["output"] == {"approved": None, "timed_out": True, "late_enough": True}


def test_events_raised_before_and_after_the_wait(http: httpx.Client) -> None:
    instance_id = start(http, "two_events")
    wait(http, instance_id, until=("Running",))
    assert raise_event(http, instance_id, "second", "early") == 202  # before anyone waits for it: buffered
    time.sleep(0.3)
    assert raise_event(http, instance_id, "first", "late") == 202
    assert wait(http, instance_id)["output"] == [json.dumps("late"), json.dumps("early")]  # JSON text, as in Azure


def test_sub_orchestration_success_and_failure(http: httpx.Client) -> None:
    instance_id = f"parent-{uuid.uuid4().hex[:8]}"
    status = wait(http, start(http, "parent", None, instance_id))
    assert status["output"]["child"] == [0, 1, 4]
    assert status["output"]["failure"].startswith("Orchestrator function 'boom' failed: kaboom")
    child = http.get(f"{HOOK}/instances/{instance_id}-child").json()
    assert child["runtimeStatus"] == "Completed"


def test_continue_as_new_restarts_with_the_new_input(http: httpx.Client) -> None:
    instance_id = start(http, "counter", 0)
    status = wait(http, instance_id)
    assert status["output"] == {"final": 3}
    assert status["input"] == "3"


def test_custom_status_is_visible_and_updates(http: httpx.Client) -> None:
    instance_id = start(http, "with_status")
    assert wait(http, instance_id, until=("Running",))["customStatus"] == {"stage": "waiting"}
    raise_event(http, instance_id, "go", 1)
    status = wait(http, instance_id)
    assert status["customStatus"] == {"stage": "done"}
    assert status["output"] == {"got": "1"}


def test_terminate_stops_an_instance(http: httpx.Client) -> None:
    instance_id = start(http, "with_status")
    wait(http, instance_id, until=("Running",))
    assert http.post(f"{HOOK}/instances/{instance_id}/terminate", params={"reason": "enough"}).status_code == 202
    status = wait(http, instance_id)
    assert (status["runtimeStatus"], status["output"]) == ("Terminated", "enough")
    assert http.post(f"{HOOK}/instances/{instance_id}/terminate").status_code == 410
    assert raise_event(http, instance_id, "go", 1) == 410


def test_suspend_holds_events_until_resume(http: httpx.Client) -> None:
    instance_id = start(http, "with_status")
    wait(http, instance_id, until=("Running",))
    assert http.post(f"{HOOK}/instances/{instance_id}/suspend", params={"reason": "pause"}).status_code == 202
    assert raise_event(http, instance_id, "go", "held") == 202
    time.sleep(0.5)
    assert http.get(f"{HOOK}/instances/{instance_id}").json()["runtimeStatus"] == "Suspended"
    assert http.post(f"{HOOK}/instances/{instance_id}/resume").status_code == 202
    assert wait(http, instance_id)["output"] == {"got": json.dumps("held")}


def test_non_deterministic_orchestrator_fails_with_a_clear_message(http: httpx.Client) -> None:
    status = wait(http, start(http, "nondeterministic"))
    assert status["runtimeStatus"] == "Failed"
    assert "Non-Deterministic workflow detected" in status["output"]
    assert "named 'square'" in status["output"] and "named 'flaky'" in status["output"]


def test_orchestrator_exception_fails_with_the_azure_style_output(http: httpx.Client) -> None:
    status = wait(http, start(http, "boom"))
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == "Orchestrator function 'boom' failed: kaboom"


def test_unknown_activity_fails_the_orchestration(http: httpx.Client) -> None:
    status = wait(http, start(http, "unknown_activity"))
    assert status["runtimeStatus"] == "Failed"
    assert "The function 'no_such_activity' doesn't exist" in status["output"]


def test_status_codes_and_shapes_match_the_extension(http: httpx.Client) -> None:
    instance_id = start(http, "with_status")
    running = http.get(f"{HOOK}/instances/{instance_id}")
    assert running.status_code == 202
    assert running.headers["retry-after"] == "5"
    assert urlsplit(running.headers["location"]).path.endswith(instance_id)
    body = running.json()
    assert set(body) == {
        "name",
        "instanceId",
        "runtimeStatus",
        "input",
        "customStatus",
        "output",
        "createdTime",
        "lastUpdatedTime",
    }
    assert body["createdTime"].endswith("Z") and len(body["createdTime"]) == 20  # seconds precision
    raise_event(http, instance_id, "go", None)
    wait(http, instance_id)
    done = http.get(f"{HOOK}/instances/{instance_id}", params={"showHistory": "true", "showHistoryOutput": "true"})
    assert done.status_code == 200
    kinds = [e["EventType"] for e in done.json()["historyEvents"]]
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionCompleted" and "EventRaised" in kinds
    assert http.get(f"{HOOK}/instances/nope").status_code == 404
    assert http.get(f"{HOOK}/instances/nope").content == b""
    assert raise_event(http, "nope", "go", 1) == 404
    assert http.post(f"{HOOK}/orchestrators/no_such_orchestrator").status_code == 400
    assert http.post(f"{HOOK}/orchestrators/with_status/@bad").status_code == 400


def test_starting_a_running_id_is_refused_and_a_finished_one_is_replaced(http: httpx.Client) -> None:
    instance_id = f"fixed-{uuid.uuid4().hex[:8]}"
    start(http, "with_status", None, instance_id)
    assert http.post(f"{HOOK}/orchestrators/with_status/{instance_id}").status_code == 500
    raise_event(http, instance_id, "go", 1)
    wait(http, instance_id)
    start(http, "boom", None, instance_id)
    assert wait(http, instance_id)["name"] == "boom"


def test_list_filter_and_purge(http: httpx.Client) -> None:
    instance_id = start(http, "boom")
    wait(http, instance_id)
    failed = http.get(f"{HOOK}/instances", params={"runtimeStatus": "Failed"}).json()
    assert instance_id in {s["instanceId"] for s in failed}
    assert all(s["runtimeStatus"] == "Failed" for s in failed)
    assert http.delete(f"{HOOK}/instances/{instance_id}").json() == {"instancesDeleted": 1}
    assert http.delete(f"{HOOK}/instances/{instance_id}").status_code == 404


def test_client_functions_run_unchanged_through_the_sdk(http: httpx.Client) -> None:
    response = http.post("/api/start/fan_out", json={"n": 4})
    assert response.status_code == 202
    payload = response.json()
    assert response.headers["location"] == payload["statusQueryGetUri"]
    assert payload["statusQueryGetUri"].startswith(str(http.base_url).rstrip("/") + HOOK)
    instance_id = payload["id"]
    assert wait(http, instance_id)["output"] == [0, 1, 4, 9]
    status = http.get(f"/api/client/{instance_id}").json()
    assert status["runtimeStatus"] == "Completed" and status["output"] == [0, 1, 4, 9]

    waiting = http.post("/api/start/with_status").json()["id"]
    wait(http, waiting, until=("Running",))
    assert http.post(f"/api/client/{waiting}/go", json={"x": 1}).status_code == 204
    assert wait(http, waiting)["output"] == {"got": json.dumps({"x": 1})}
    other = http.post("/api/start/with_status").json()["id"]
    wait(http, other, until=("Running",))
    assert http.post(f"/api/client/{other}/terminate").status_code == 204
    assert wait(http, other)["output"] == "stopped by test"


def test_crash_mid_fan_out_resumes_without_losing_or_doubling_results(durable_stack: LocalStack) -> None:
    state: Path = durable_stack.test_state  # type: ignore[attr-defined]
    with httpx.Client(base_url=durable_stack.base_url, params=durable_stack.durable_params, timeout=30) as http:
        instance_id = start(http, "fan_out", {"n": 80, "delay": 0.2})
        deadline = time.monotonic() + 30
        while len(list(state.glob("square-*"))) < 20:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    durable_stack.kill_devhost()
    ran_before = len(list(state.glob("square-*")))
    assert ran_before < 80
    durable_stack.start_devhost()
    with httpx.Client(base_url=durable_stack.base_url, params=durable_stack.durable_params, timeout=30) as http:
        status = wait(http, instance_id, timeout_s=60)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == [i * i for i in range(80)]  # every result exactly once, in order
    executed = {p.name.split("-")[1] for p in state.glob("square-*")}
    assert executed == {str(i) for i in range(80)}


def test_retry_chains_racing_other_activities_keep_ids_in_step(http: httpx.Client) -> None:
    status = wait(http, start(http, "retry_race", uuid.uuid4().hex))
    assert status["runtimeStatus"] == "Completed", status["output"]
    assert status["output"]["results"] == ["succeeded on attempt 2"] * 3 + [0, 1, 4]
    assert status["output"]["after"] == 49


def test_queue_and_blob_triggered_client_functions_start_orchestrations(
    durable_stack: LocalStack, http: httpx.Client
) -> None:
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueClient, TextBase64EncodePolicy

    queue = QueueClient.from_connection_string(
        durable_stack.connection_string, "start-requests", message_encode_policy=TextBase64EncodePolicy()
    )
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    queue_instance = f"queued-{uuid.uuid4().hex[:8]}"
    queue.send_message(json.dumps({"name": "fan_out", "id": queue_instance, "input": {"n": 2}}))
    assert wait(http, queue_instance, until=("Completed",))["output"] == [0, 1]

    blobs = BlobServiceClient.from_connection_string(durable_stack.connection_string)
    with contextlib.suppress(ResourceExistsError):
        blobs.create_container("drops")
    name = f"{uuid.uuid4().hex[:8]}.bin"
    blobs.get_blob_client("drops", name).upload_blob(b"abc")
    assert wait(http, f"blob-{name}", until=("Completed",))["output"] == [0, 1, 4]


def test_the_public_durable_api_needs_the_system_key_as_in_azure(durable_stack: LocalStack) -> None:
    """Azure serves /runtime/webhooks/durabletask only with the extension's system key (or the master key) as
    ``code``: without it anyone could list every job's instance (file names, blob paths, results) or terminate
    it. The app's own client calls a keyless listener bound to 127.0.0.1 instead (EXT LocalHttpListener.cs)."""
    with httpx.Client(base_url=durable_stack.base_url, params=durable_stack.durable_params, timeout=30) as http:
        instance_id = start(http, "with_status")
    calls = [
        ("GET", f"{HOOK}/instances"),
        ("GET", f"{HOOK}/instances/{instance_id}"),
        ("POST", f"{HOOK}/instances/{instance_id}/terminate"),
        ("POST", f"{HOOK}/instances/{instance_id}/raiseEvent/go"),
        ("POST", f"{HOOK}/orchestrators/with_status"),
        ("DELETE", f"{HOOK}/instances/{instance_id}"),
    ]
    with httpx.Client(base_url=durable_stack.base_url, timeout=30) as anyone:
        for method, path in calls:
            for params in ({}, {"code": durable_stack.function_key}, {"code": "wrong"}):
                response = anyone.request(method, path, params=params, content=b"null")
                assert (response.status_code, response.content) == (401, b""), (method, path, params)
        assert anyone.get(f"{HOOK}/instances/{instance_id}", params={"code": durable_stack.master_key}).is_success
        by_header = anyone.get(
            f"{HOOK}/instances/{instance_id}", headers={"x-functions-key": durable_stack.durable_key}
        )
        assert by_header.is_success
        with_key = anyone.get(f"{HOOK}/instances/{instance_id}", params=durable_stack.durable_params)
        assert with_key.json()["runtimeStatus"] in ("Pending", "Running")  # nothing above reached it: no terminate
    # The app's own client (an HTTP function using DurableOrchestrationClient) still works, through the loopback
    # listener, and the management URLs it hands out carry the system key, as Azure's do.
    response = httpx.post(f"{durable_stack.base_url}/api/start/fan_out", json={"n": 2})
    assert response.status_code == 202
    assert f"code={durable_stack.durable_key}" in response.json()["statusQueryGetUri"]


@pytest.mark.parametrize(("chars", "fits"), [(8_000, True), (8_700, True), (8_800, False), (20_000, False)])
def test_a_custom_status_over_16_kb_fails_the_orchestration_as_on_azure(
    http: httpx.Client, chars: int, fits: bool
) -> None:
    """The extension counts custom status in UTF-16 bytes / 1024, truncated, and refuses more than 16 KB (8,703
    ASCII characters plus quotes is 16.99 KB: still 16). A host that stored it anyway would hide an orchestration
    that fails on Azure (a progress report grown with the number of segments)."""
    status = wait(http, start(http, "sized_status", chars))
    if fits:
        assert (status["runtimeStatus"], status["customStatus"]) == ("Completed", "x" * chars)
    else:
        assert status["runtimeStatus"] == "Failed"
        assert "The UTF-16 size of the JSON-serialized payload must not exceed 16 KB" in status["output"]
