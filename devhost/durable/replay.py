"""One call of an orchestrator through the real SDK entry point, and its answer decoded.

The SDK's ``handle`` takes the context JSON string and returns the OrchestratorState JSON string; when user code
throws it raises instead, carrying the state after a ``$OutOfProcData$:`` marker (protocol §2.5).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"


@dataclass
class ReplayResult:
    done: bool
    actions: list[dict[str, Any]]  # flattened, in scheduling order (WhenAll/WhenAny containers removed)
    output: Any = None
    has_output: bool = False
    error: str | None = None
    custom_status: Any = None
    raw_actions: list[Any] = field(default_factory=list)


def flatten(actions: list[Any]) -> list[dict[str, Any]]:
    """V2/V3: depth-first over ``actions[0]``; WhenAny (11) and WhenAll (12) are containers, not entries."""
    flat: list[dict[str, Any]] = []

    def walk(items: list[Any]) -> None:
        for action in items:
            if action.get("actionType") in (11, 12):
                walk(action.get("compoundActions") or [])
            else:
                flat.append(action)

    for group in actions:
        walk(group)
    return flat


def context_json(history: list[dict[str, Any]], instance_id: str, input_value: Any, parent_id: str | None) -> str:
    return json.dumps(
        {
            "history": history,
            "input": input_value,
            "instanceId": instance_id,
            "isReplaying": False,
            "parentInstanceId": parent_id,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
        }
    )


def run_orchestrator(handler: Any, context: str) -> ReplayResult:
    try:
        state_text = handler(context)
    except Exception as exc:
        return _from_failure(exc)
    state = json.loads(state_text)
    return _from_state(state)


def _from_state(state: dict[str, Any]) -> ReplayResult:
    raw = state.get("actions") or []
    return ReplayResult(
        done=bool(state.get("isDone")),
        actions=flatten(raw),
        output=state.get("output"),
        has_output="output" in state,
        error=state.get("error"),
        custom_status=state.get("customStatus"),
        raw_actions=raw,
    )


def _from_failure(exc: Exception) -> ReplayResult:
    text = str(exc)
    if OUT_OF_PROC_MARKER in text:
        message, _, data = text.partition(OUT_OF_PROC_MARKER)
        result = _from_state(json.loads(data))
        result.error = result.error or message
        return result
    return ReplayResult(done=False, actions=[], error=text or str(type(exc)))
