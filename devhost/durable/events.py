"""DTFx history events in the exact JSON shape the SDK reads (PascalCase, ids, IsPlayed, UTC timestamps)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from typing import Any


class EventType(IntEnum):
    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_CREATED = 7
    SUB_ORCHESTRATION_COMPLETED = 8
    SUB_ORCHESTRATION_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16
    EXECUTION_SUSPENDED = 19
    EXECUTION_RESUMED = 20


class OrchestrationStatus(IntEnum):
    """DTFx's numbers, used in ExecutionCompleted events."""

    RUNNING = 0
    COMPLETED = 1
    CONTINUED_AS_NEW = 2
    FAILED = 3
    CANCELED = 4
    TERMINATED = 5
    PENDING = 6
    SUSPENDED = 7


def utc_now() -> datetime:
    return datetime.now(UTC)


def fmt_time(moment: datetime) -> str:
    """DTFx/Newtonsoft style: 7 fractional digits and a Z (the SDK truncates to microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_time(text: str) -> datetime:
    """Read DTFx (7 digits) and SDK (6 digits) UTC timestamps alike."""
    base, _, fraction = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{base}.{(fraction + '000000')[:6]}").replace(tzinfo=UTC)


def event(kind: EventType, at: datetime, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    return {"EventType": int(kind), "EventId": event_id, "IsPlayed": False, "Timestamp": fmt_time(at), **fields}


def orchestrator_started(at: datetime) -> dict[str, Any]:
    return event(EventType.ORCHESTRATOR_STARTED, at)


def orchestrator_completed(at: datetime) -> dict[str, Any]:
    return event(EventType.ORCHESTRATOR_COMPLETED, at)


def execution_started(
    at: datetime,
    instance_id: str,
    execution_id: str,
    name: str,
    input_text: str | None,
    parent: dict[str, Any] | None = None,
    version: str = "",
) -> dict[str, Any]:
    return event(
        EventType.EXECUTION_STARTED,
        at,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=parent,
        Name=name,
        Version=version,
        Input=input_text,
        Tags=None,
    )


def execution_completed(at: datetime, status: OrchestrationStatus, result: str | None) -> dict[str, Any]:
    return event(EventType.EXECUTION_COMPLETED, at, OrchestrationStatus=int(status), Result=result, FailureDetails=None)


def task_scheduled(at: datetime, task_id: int, name: str, input_text: str | None) -> dict[str, Any]:
    return event(EventType.TASK_SCHEDULED, at, task_id, Name=name, Version="", Input=input_text)


def task_completed(at: datetime, task_id: int, result: str | None) -> dict[str, Any]:
    return event(EventType.TASK_COMPLETED, at, TaskScheduledId=task_id, Result=result)


def task_failed(at: datetime, task_id: int, reason: str, details: str | None) -> dict[str, Any]:
    return event(
        EventType.TASK_FAILED, at, TaskScheduledId=task_id, Reason=reason, Details=details, FailureDetails=None
    )


def timer_created(at: datetime, timer_id: int, fire_at: datetime) -> dict[str, Any]:
    return event(EventType.TIMER_CREATED, at, timer_id, FireAt=fmt_time(fire_at))


def timer_fired(at: datetime, timer_id: int, fire_at: str) -> dict[str, Any]:
    return event(EventType.TIMER_FIRED, at, TimerId=timer_id, FireAt=fire_at)


def sub_orchestration_created(
    at: datetime, task_id: int, name: str, instance_id: str, input_text: str | None
) -> dict[str, Any]:
    return event(
        EventType.SUB_ORCHESTRATION_CREATED,
        at,
        task_id,
        Name=name,
        Version="",
        InstanceId=instance_id,
        Input=input_text,
    )


def sub_orchestration_completed(at: datetime, task_id: int, result: str | None) -> dict[str, Any]:
    return event(EventType.SUB_ORCHESTRATION_COMPLETED, at, TaskScheduledId=task_id, Result=result)


def sub_orchestration_failed(at: datetime, task_id: int, reason: str, details: str | None) -> dict[str, Any]:
    return event(
        EventType.SUB_ORCHESTRATION_FAILED,
        at,
        TaskScheduledId=task_id,
        Reason=reason,
        Details=details,
        FailureDetails=None,
    )


def event_raised(at: datetime, name: str, input_text: str | None) -> dict[str, Any]:
    return event(EventType.EVENT_RAISED, at, Name=name, Input=input_text)


def execution_terminated(at: datetime, reason: str | None) -> dict[str, Any]:
    return event(EventType.EXECUTION_TERMINATED, at, Input=reason)


def execution_suspended(at: datetime, reason: str | None) -> dict[str, Any]:
    return event(EventType.EXECUTION_SUSPENDED, at, Reason=reason)


def execution_resumed(at: datetime, reason: str | None) -> dict[str, Any]:
    return event(EventType.EXECUTION_RESUMED, at, Reason=reason)
