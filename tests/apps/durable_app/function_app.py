"""A small test app (not the product) that exercises every Durable feature the devhost must run faithfully."""

import json
import os
import time
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
STATE = Path(os.environ.get("TEST_STATE_DIR", "/tmp"))
_replays = {"nondeterministic": 0}


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    tasks = [context.call_activity("square", {"i": i, "delay": spec.get("delay", 0)}) for i in range(spec["n"])]
    results = yield context.task_all(tasks)
    return results


@app.activity_trigger(input_name="item")
def square(item: dict) -> int:
    time.sleep(item.get("delay", 0))
    if "i" in item and item.get("delay"):
        (STATE / f"square-{item['i']}-{time.monotonic_ns()}").touch()
    return item["i"] * item["i"]


@app.activity_trigger(input_name="spec")
def flaky(spec: dict) -> str:
    counter = STATE / f"flaky-{spec['key']}"
    attempt = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    if attempt <= spec["fail_times"]:
        raise RuntimeError(f"attempt {attempt} failed")
    return f"succeeded on attempt {attempt}"


@app.orchestration_trigger(context_name="context")
def with_retry(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    options = df.RetryOptions(
        first_retry_interval_in_milliseconds=spec["first_ms"], max_number_of_attempts=spec["attempts"]
    )
    started = context.current_utc_datetime
    try:
        result = yield context.call_activity_with_retry("flaky", options, spec)
    except Exception as exc:
        return {"error": str(exc).split("\n")[0], "elapsed": (context.current_utc_datetime - started).total_seconds()}
    return {"ok": result, "elapsed": (context.current_utc_datetime - started).total_seconds()}


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    deadline = context.current_utc_datetime + timedelta(seconds=context.get_input()["timeout_s"])
    timer = context.create_timer(deadline)
    event = context.wait_for_external_event("Approval")
    winner = yield context.task_any([event, timer])
    if winner == event:
        timer.cancel()
        return {"approved": event.result}
    return {"approved": None, "timed_out": True, "late_enough": context.current_utc_datetime >= deadline}


@app.orchestration_trigger(context_name="context")
def two_events(context: df.DurableOrchestrationContext):
    first = yield context.wait_for_external_event("first")
    second = yield context.wait_for_external_event("second")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    child = yield context.call_sub_orchestrator("fan_out", {"n": 3}, instance_id=f"{context.instance_id}-child")
    try:
        yield context.call_sub_orchestrator("boom", None)
        failure = None
    except Exception as exc:
        failure = str(exc)
    return {"child": child, "failure": failure}


@app.orchestration_trigger(context_name="context")
def boom(context: df.DurableOrchestrationContext):
    yield context.call_activity("square", {"i": 1})
    raise ValueError("kaboom")


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    n = context.get_input()
    if n < 3:
        yield context.call_activity("square", {"i": n})
        context.continue_as_new(n + 1)
        return None
    return {"final": n}


@app.orchestration_trigger(context_name="context")
def with_status(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": "waiting"})
    value = yield context.wait_for_external_event("go")
    context.set_custom_status({"stage": "done"})
    return {"got": value}


@app.orchestration_trigger(context_name="context")
def sized_status(context: df.DurableOrchestrationContext):
    """Sets a custom status of ``n`` characters, then completes."""
    context.set_custom_status("x" * int(context.get_input()))
    return "done"
    yield  # an orchestrator is a generator


@app.orchestration_trigger(context_name="context")
def nondeterministic(context: df.DurableOrchestrationContext):
    _replays["nondeterministic"] += 1
    name = "square" if _replays["nondeterministic"] == 1 else "flaky"
    yield context.call_activity(name, {"i": 3})
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def unknown_activity(context: df.DurableOrchestrationContext):
    yield context.call_activity("no_such_activity", 1)
    return "unreachable"


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["name"], client_input=json.loads(body) if body else None)
    return client.create_check_status_response(req, instance_id)


@app.route(route="client/{instance_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def http_client_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    status = await client.get_status(req.route_params["instance_id"])
    return func.HttpResponse(json.dumps(status.to_json(), default=str), mimetype="application/json")


@app.route(route="client/{instance_id}/{operation}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_client_operation(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id, operation = req.route_params["instance_id"], req.route_params["operation"]
    if operation == "terminate":
        await client.terminate(instance_id, "stopped by test")
    elif operation == "suspend":
        await client.suspend(instance_id, "paused by test")
    elif operation == "resume":
        await client.resume(instance_id, "resumed by test")
    else:
        await client.raise_event(instance_id, operation, json.loads(req.get_body() or b"null"))
    return func.HttpResponse(status_code=204)


@app.orchestration_trigger(context_name="context")
def echo_events(context: df.DurableOrchestrationContext):
    """For bench/durable_overhead.py: when did each 'ping' resume the orchestrator (episode time)?"""
    resumed = []
    for _ in range(context.get_input()):
        yield context.wait_for_external_event("ping")
        resumed.append(context.current_utc_datetime.timestamp())
        context.set_custom_status(len(resumed))
    return resumed


@app.orchestration_trigger(context_name="context")
def retry_race(context: df.DurableOrchestrationContext):
    """Several retry chains racing plain activities: ids must stay in step with the SDK (protocol §3.4)."""
    key = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)
    chains = [
        context.call_activity_with_retry("flaky", options, {"key": f"{key}-{i}", "fail_times": 1}) for i in range(3)
    ]
    plain = [context.call_activity("square", {"i": i}) for i in range(3)]
    first = yield context.task_any([chains[0], plain[0]])
    rest = yield context.task_all(chains + plain)
    after = yield context.call_activity("square", {"i": 7})
    return {"first_done": first.is_completed, "results": rest, "after": after}


@app.queue_trigger(arg_name="msg", queue_name="start-requests", connection="Storage")
@app.durable_client_input(client_name="client")
async def start_from_queue(msg: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    spec = msg.get_json()
    await client.start_new(spec["name"], instance_id=spec["id"], client_input=spec.get("input"))


@app.blob_trigger(arg_name="source", path="drops/{name}", connection="Storage", source=func.BlobSource.EVENT_GRID)
@app.durable_client_input(client_name="client")
async def start_from_blob(source: blob.BlobClient, client: df.DurableOrchestrationClient) -> None:
    """Start one orchestration per blob, idempotently (instance id = blob name), reading only its properties."""
    instance_id = f"blob-{source.blob_name}"
    existing = await client.get_status(instance_id)
    if existing and existing.runtime_status is not None:
        return
    size = source.get_blob_properties().size
    await client.start_new("fan_out", instance_id=instance_id, client_input={"n": size})
