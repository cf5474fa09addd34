"""Status JSON as the extension's HTTP API returns it (protocol §5.3), history view included."""

from __future__ import annotations

import json
from typing import Any

from devhost.durable.events import EventType, OrchestrationStatus, parse_time
from devhost.durable.store import Instance

_STATUS_NAMES = {s.value: "".join(w.capitalize() for w in s.name.split("_")) for s in OrchestrationStatus}
_EVENT_NAMES = {e.value: "".join(w.capitalize() for w in e.name.split("_")) for e in EventType}
_EVENT_NAMES.update(
    {7: "SubOrchestrationInstanceCreated", 8: "SubOrchestrationInstanceCompleted", 9: "SubOrchestrationInstanceFailed"}
)
_SCHEDULING = (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_CREATED)
_COMPLETIONS = (
    EventType.TASK_COMPLETED,
    EventType.TASK_FAILED,
    EventType.SUB_ORCHESTRATION_COMPLETED,
    EventType.SUB_ORCHESTRATION_FAILED,
)


def as_json_value(text: str | None) -> Any:
    """Stored serialized text, re-parsed; a raw string if it is not JSON (the extension's ParseToJToken)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def seconds(stamp: str) -> str:
    return parse_time(stamp).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_json(
    inst: Instance, show_input: bool = True, show_history: bool = False, show_history_output: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": inst.name,
        "instanceId": inst.instance_id,
        "runtimeStatus": inst.status,
        "input": as_json_value(inst.input) if show_input else None,
        "customStatus": as_json_value(inst.custom_status),
        "output": as_json_value(inst.output),
        "createdTime": seconds(inst.created_time),
        "lastUpdatedTime": seconds(inst.last_updated_time),
    }
    if show_history:
        body["historyEvents"] = history_view(inst.history, show_input, show_history_output)
    return body


def history_view(history: list[dict[str, Any]], show_input: bool, show_output: bool) -> list[dict[str, Any]]:
    scheduled = {e["EventId"]: e for e in history if e["EventType"] in _SCHEDULING}
    completed = {e.get("TaskScheduledId") for e in history if e["EventType"] in _COMPLETIONS}
    view = []
    for event in history:
        kind = event["EventType"]
        if kind in (EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED):
            continue
        if kind in _SCHEDULING and event["EventId"] in completed:
            continue
        view.append(_view_event(event, scheduled, show_input, show_output))
    return view


def _view_event(
    event: dict[str, Any], scheduled: dict[int, dict[str, Any]], show_input: bool, show_output: bool
) -> dict[str, Any]:
    kind = event["EventType"]
    out = {k: v for k, v in event.items() if k not in ("EventId", "IsPlayed")}
    out["EventType"] = _EVENT_NAMES.get(kind, str(kind))
    if kind in _COMPLETIONS:
        origin = scheduled.get(out.pop("TaskScheduledId", -1), {})
        out["FunctionName"] = origin.get("Name")
        out["ScheduledTime"] = origin.get("Timestamp")
        if show_input:
            out["Input"] = origin.get("Input")
    if "Result" in out:
        if show_output:
            out["Result"] = as_json_value(out["Result"])
        else:
            out.pop("Result")
    if kind == EventType.EXECUTION_STARTED:
        out["FunctionName"] = out.pop("Name", None)
        for key in ("OrchestrationInstance", "ParentInstance", "Version", "Tags"):
            out.pop(key, None)
    if kind == EventType.EXECUTION_COMPLETED:
        out["OrchestrationStatus"] = _STATUS_NAMES.get(out.get("OrchestrationStatus", -1))
    if kind == EventType.TIMER_FIRED:
        out.pop("TimerId", None)
    return out
