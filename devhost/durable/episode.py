"""One orchestration episode: append new events, replay through the SDK, turn new actions into work.

This is the heart of the engine and follows the protocol handout: §3.4 for id numbering (one counter per
execution, rule-3 allocations for retries), §4.5 for DTFx's retry algorithm (a timer after every failed attempt,
a "dummy" timer at now after the last one), §3.3 for framing (OrchestratorStarted ... OrchestratorCompleted),
§2.5 for failures, and the non-determinism check DTFx performs when replayed actions disagree with history.
Everything here is pure bookkeeping on an :class:`Instance`; the engine commits the :class:`Outcome`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from devhost.durable import events as ev
from devhost.durable.events import EventType, OrchestrationStatus
from devhost.durable.replay import ReplayResult, context_json, run_orchestrator
from devhost.durable.store import Instance, WorkItem

_ACTION_NAMES = {
    0: "an activity task",
    1: "an activity task",
    2: "a sub-orchestration",
    3: "a sub-orchestration",
    5: "a timer",
    6: "an external event wait",
}


# The extension serialises custom status with a 16 KB limit (DurableOrchestrationContext.SetCustomStatus:
# MaxCustomStatusPayloadSizeInKB = 16), counted as UTF-16 bytes divided by 1024 and truncated, as Azure Storage
# keeps strings in UTF-16 (MessagePayloadDataConverter.Serialize); a larger one fails the orchestration.
CUSTOM_STATUS_LIMIT_KB = 16


def payload_too_large(serialized: str | None, limit_kb: int) -> str | None:
    """The extension's error for a payload over ``limit_kb``, or ``None`` when it fits."""
    if serialized is None:
        return None
    size_kb = int(len(serialized.encode("utf-16-le")) / 1024)
    if size_kb <= limit_kb:
        return None
    return (
        f"The UTF-16 size of the JSON-serialized payload must not exceed {limit_kb:,} KB. "
        f"The current payload size is {size_kb:,} KB."
    )


class Registry:
    """Durable names of the app's orchestrators and activities (matched case-insensitively, as the extension does)."""

    def __init__(self, orchestrators: dict[str, Any], activities: dict[str, Any]) -> None:
        self.orchestrators = {k.lower(): v for k, v in orchestrators.items()}
        self.activities = {k.lower(): v for k, v in activities.items()}

    def activity(self, name: str) -> Any | None:
        return self.activities.get(name.lower())

    def orchestrator(self, name: str) -> Any | None:
        return self.orchestrators.get(name.lower())


class OrchestrationFailure(Exception):
    """Fails the instance outright (not catchable by the orchestrator), like the extension's ArgumentException."""


@dataclass
class NewInstance:
    instance: Instance
    start_event: dict[str, Any]


@dataclass
class Outcome:
    work: list[WorkItem] = field(default_factory=list)
    canceled_timers: list[int] = field(default_factory=list)
    drop_all_work: bool = False
    new_instances: list[NewInstance] = field(default_factory=list)
    notify: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (instance, execution, event)
    restart_event: dict[str, Any] | None = None  # continue-as-new: ExecutionStarted of the next execution


def new_state(parent: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"next_id": 0, "seen": 0, "recorded": [], "tasks": {}, "chains": {}, "parent": parent, "last_started": None}


def new_execution_id() -> str:
    return uuid.uuid4().hex


class Episode:
    def __init__(self, inst: Instance, registry: Registry, now: datetime) -> None:
        self.inst = inst
        self.state = inst.state
        self.registry = registry
        self.now = now
        self.outcome = Outcome()
        self._scheduling: list[dict[str, Any]] = []

    # ----------------------------------------------------------------- driving
    def run(self, batch: list[dict[str, Any]]) -> Outcome:
        self.now = self._episode_time(batch)
        self.inst.history.append(ev.orchestrator_started(self.now))
        for event in _rule3_first(batch, self.state):
            self.inst.history.append(event)
            self._rule3_allocation(event)
        handler = self.registry.orchestrator(self.inst.name)
        if handler is None:
            return self._fail(
                f"The function '{self.inst.name}' doesn't exist, is disabled, or is not an orchestrator function."
            )
        result = run_orchestrator(handler, self._context())
        if result.error is not None:
            return self._fail(result.error)
        custom_status = json.dumps(result.custom_status) if result.custom_status else None
        if (too_large := payload_too_large(custom_status, CUSTOM_STATUS_LIMIT_KB)) is not None:
            return self._fail(too_large)
        self.inst.custom_status = custom_status
        try:
            self._check_determinism(result)
            self._schedule_new_actions(result)
        except OrchestrationFailure as exc:
            return self._fail(str(exc))
        self.inst.history.extend(self._scheduling)
        self.inst.history.append(ev.orchestrator_completed(self.now))
        if result.done:
            self._finish(result)
        else:
            self.inst.status = "Running"
        return self.outcome

    def _episode_time(self, batch: list[dict[str, Any]]) -> datetime:
        """Non-decreasing, and never before a timer that this episode delivers (protocol §6.2)."""
        candidates = [self.now]
        if self.state.get("last_started"):
            candidates.append(ev.parse_time(self.state["last_started"]))
        candidates += [ev.parse_time(e["FireAt"]) for e in batch if e["EventType"] == EventType.TIMER_FIRED]
        moment = max(candidates)
        self.state["last_started"] = ev.fmt_time(moment)
        return moment

    def _context(self) -> str:
        parent = self.state.get("parent") or {}
        input_value = json.loads(self.inst.input) if self.inst.input is not None else None
        return context_json(self.inst.history, self.inst.instance_id, input_value, parent.get("instance_id"))

    # ----------------------------------------------------------------- ids
    def _allocate(self) -> int:
        task_id = int(self.state["next_id"])
        self.state["next_id"] = task_id + 1
        return task_id

    def _task(self, task_id: int) -> dict[str, Any] | None:
        task: dict[str, Any] | None = self.state["tasks"].get(str(task_id))
        return task

    # ----------------------------------------------------------------- retries (§3.4 rule 3, §4.5)
    def _rule3_allocation(self, event: dict[str, Any]) -> None:
        kind = event["EventType"]
        if kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_FAILED):
            task = self._task(event.get("TaskScheduledId", -1))
            if task and task.get("chain") is not None:
                self._retry_timer(self.state["chains"][str(task["chain"])])
        elif kind == EventType.TIMER_FIRED:
            task = self._task(event["TimerId"])
            if task and task["kind"] == "retry_timer":
                chain = self.state["chains"][str(task["chain"])]
                if chain["attempt"] < chain["max_attempts"]:
                    chain["attempt"] += 1
                    self._start_attempt(chain)

    def _retry_timer(self, chain: dict[str, Any]) -> None:
        timer_id = self._allocate()
        last = chain["attempt"] >= chain["max_attempts"]
        delay = 0.0 if last else chain["first_ms"] * chain.get("backoff", 1.0) ** (chain["attempt"] - 1) / 1000
        fire_at = self.now + timedelta(seconds=delay)  # the last one is DTFx's "dummy timer for back-compat"
        self.state["tasks"][str(timer_id)] = {
            "kind": "retry_timer",
            "chain": chain["id"],
            "fire_at": ev.fmt_time(fire_at),
        }
        self._scheduling.append(ev.timer_created(self.now, timer_id, fire_at))
        self._arm_timer(timer_id, fire_at)

    def _start_attempt(self, chain: dict[str, Any]) -> None:
        task_id = self._allocate()
        chain["current"] = task_id
        if chain["kind"] == "activity":
            self._schedule_activity(task_id, chain["name"], chain["input"], chain["id"])
        else:
            instance_id = chain.get("instance_id") or f"{self.inst.execution_id}:{task_id}"
            self._schedule_sub_orchestration(task_id, chain["name"], chain["input"], instance_id, chain["id"])

    # ----------------------------------------------------------------- actions
    def _check_determinism(self, result: ReplayResult) -> None:
        recorded = self.state["recorded"]
        for position, (old, action) in enumerate(zip(recorded, result.actions, strict=False)):
            if not _same_action(old, action):
                raise OrchestrationFailure(_nondeterminism_message(old, action))
            if action.get("actionType") == 5 and action.get("isCanceled") and not old.get("canceled"):
                old["canceled"] = True
                self.outcome.canceled_timers.append(old["id"])
                self.state["tasks"].pop(str(old["id"]), None)
            recorded[position] = old

    def _schedule_new_actions(self, result: ReplayResult) -> None:
        for action in result.actions[self.state["seen"] :]:
            self.state["recorded"].append(self._schedule(action))
        self.state["seen"] = len(result.actions)

    def _schedule(self, action: dict[str, Any]) -> dict[str, Any]:
        kind = action["actionType"]
        record: dict[str, Any] = {
            "t": kind,
            "id": None,
            "name": action.get("functionName"),
            "iid": action.get("instanceId"),
            "ev": action.get("externalEventName"),
        }
        if kind == 6:
            return record
        if kind in (7, 8, 9):
            raise OrchestrationFailure("call_http and durable entities are not supported by the one-machine host")
        task_id = record["id"] = self._allocate()
        if kind in (0, 1):
            self._require_activity(action["functionName"])
            chain = self._new_chain(task_id, "activity", action) if kind == 1 else None
            self._schedule_activity(task_id, action["functionName"], action.get("input"), chain)
        elif kind in (2, 3):
            self._require_orchestrator(action["functionName"])
            instance_id = action.get("instanceId") or f"{self.inst.execution_id}:{task_id}"
            self._check_child_id(instance_id)
            chain = self._new_chain(task_id, "sub_orchestration", action) if kind == 3 else None
            self._schedule_sub_orchestration(task_id, action["functionName"], action.get("input"), instance_id, chain)
        elif kind == 5:
            fire_at = ev.parse_time(action["fireAt"])
            self.state["tasks"][str(task_id)] = {"kind": "timer", "fire_at": ev.fmt_time(fire_at)}
            self._scheduling.append(ev.timer_created(self.now, task_id, fire_at))
            if not action.get("isCanceled"):
                self._arm_timer(task_id, fire_at)
            record["canceled"] = bool(action.get("isCanceled"))
        elif kind == 4:
            record["input"] = action.get("input")
        return record

    def _new_chain(self, task_id: int, kind: str, action: dict[str, Any]) -> int:
        options = action.get("retryOptions") or {}
        self.state["chains"][str(task_id)] = {
            "id": task_id,
            "kind": kind,
            "name": action["functionName"],
            "input": action.get("input"),
            "instance_id": action.get("instanceId"),
            "attempt": 1,
            "current": task_id,
            "first_ms": float(options.get("firstRetryIntervalInMilliseconds", 1000)),
            "max_attempts": int(options.get("maxNumberOfAttempts", 1)),
            "backoff": float(options.get("backoffCoefficient", 1.0)),
        }
        return task_id

    def _require_activity(self, name: str) -> None:
        if self.registry.activity(name) is None:
            known = ", ".join(sorted(self.registry.activities))
            raise OrchestrationFailure(
                f"The function '{name}' doesn't exist, is disabled, or is not an activity function. Additional "
                f"info: The following are the known activity functions: '{known}'."
            )

    def _require_orchestrator(self, name: str) -> None:
        if self.registry.orchestrator(name) is None:
            known = ", ".join(sorted(self.registry.orchestrators))
            raise OrchestrationFailure(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. Additional "
                f"info: The following are the known orchestrator functions: '{known}'."
            )

    def _check_child_id(self, instance_id: str) -> None:
        parent = (self.state.get("parent") or {}).get("instance_id")
        if instance_id in (self.inst.instance_id, parent):
            raise OrchestrationFailure(
                f"A sub-orchestration instance id must differ from its parent's: '{instance_id}'"
            )

    def _schedule_activity(self, task_id: int, name: str, input_text: str | None, chain: int | None) -> None:
        self.state["tasks"][str(task_id)] = {"kind": "activity", "name": name, "chain": chain}
        self._scheduling.append(ev.task_scheduled(self.now, task_id, name, input_text))
        self.outcome.work.append(
            WorkItem("activity", self.inst.instance_id, self.inst.execution_id, task_id, name=name, input=input_text)
        )

    def _schedule_sub_orchestration(
        self, task_id: int, name: str, input_text: str | None, instance_id: str, chain: int | None
    ) -> None:
        self.state["tasks"][str(task_id)] = {
            "kind": "sub_orchestration",
            "name": name,
            "chain": chain,
            "instance_id": instance_id,
        }
        self._scheduling.append(ev.sub_orchestration_created(self.now, task_id, name, instance_id, input_text))
        parent = {
            "instance_id": self.inst.instance_id,
            "execution_id": self.inst.execution_id,
            "task_id": task_id,
            "name": self.inst.name,
        }
        self.outcome.new_instances.append(child_instance(name, instance_id, input_text, parent, self.now))

    def _arm_timer(self, task_id: int, fire_at: datetime) -> None:
        self.outcome.work.append(
            WorkItem("timer", self.inst.instance_id, self.inst.execution_id, task_id, due=ev.fmt_time(fire_at))
        )

    # ----------------------------------------------------------------- endings
    def _finish(self, result: ReplayResult) -> None:
        restart = next((a for a in reversed(result.actions) if a.get("actionType") == 4), None)
        if restart is not None:
            self._continue_as_new(restart.get("input"))
            return
        output = json.dumps(result.output)
        self.inst.status, self.inst.output = "Completed", output
        self.inst.history.append(ev.execution_completed(self.now, OrchestrationStatus.COMPLETED, output))
        self._tell_parent(ev.sub_orchestration_completed, output)

    def _continue_as_new(self, input_text: str | None) -> None:
        self.outcome.drop_all_work = True
        parent = self.state.get("parent")
        self.inst.history.append(
            ev.event(EventType.CONTINUE_AS_NEW, self.now, OrchestrationStatus=2, Result=input_text)
        )
        self.inst.execution_id = new_execution_id()
        self.inst.input = json.dumps(input_text) if input_text is not None else None
        self.inst.history = []
        self.inst.state = new_state(parent)
        self.inst.state["last_started"] = ev.fmt_time(self.now)
        self.inst.status = "Running"
        self.outcome.restart_event = start_event(self.inst, self.now)

    def _fail(self, error: str) -> Outcome:
        message = f"Orchestrator function '{self.inst.name}' failed: {error}"
        self.inst.status, self.inst.output = "Failed", json.dumps(message)
        if self.inst.history[-1]["EventType"] != EventType.ORCHESTRATOR_COMPLETED:
            self.inst.history.append(ev.orchestrator_completed(self.now))
        self.inst.history.append(ev.execution_completed(self.now, OrchestrationStatus.FAILED, message))
        self.outcome.drop_all_work = True
        self.outcome.work.clear()
        self.outcome.new_instances.clear()
        self._tell_parent(lambda at, task_id, reason: ev.sub_orchestration_failed(at, task_id, reason, None), message)
        return self.outcome

    def _tell_parent(self, make: Any, payload: str) -> None:
        parent = self.state.get("parent")
        if parent:
            event = make(self.now, parent["task_id"], payload)
            self.outcome.notify.append((parent["instance_id"], parent["execution_id"], event))


def child_instance(
    name: str, instance_id: str, input_text: str | None, parent: dict[str, Any] | None, now: datetime
) -> NewInstance:
    stamp = ev.fmt_time(now)
    inst = Instance(
        instance_id=instance_id,
        name=name,
        status="Pending",
        execution_id=new_execution_id(),
        input=json.dumps(input_text) if input_text is not None else None,
        created_time=stamp,
        last_updated_time=stamp,
        state=new_state(parent),
    )
    return NewInstance(inst, start_event(inst, now))


def start_event(inst: Instance, now: datetime) -> dict[str, Any]:
    parent = inst.state.get("parent")
    parent_json = None
    if parent:
        parent_json = {
            "Name": parent["name"],
            "Version": "",
            "TaskScheduleId": parent["task_id"],
            "OrchestrationInstance": {"InstanceId": parent["instance_id"], "ExecutionId": parent["execution_id"]},
        }
    return ev.execution_started(now, inst.instance_id, inst.execution_id, inst.name, inst.input, parent_json)


def _rule3_first(batch: list[dict[str, Any]], state: dict[str, Any]) -> list[dict[str, Any]]:
    """Events that allocate retry ids go first, so both sides number in the same order (§3.4 rule 4)."""

    def allocates(event: dict[str, Any]) -> bool:
        kind = event["EventType"]
        if kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_FAILED):
            task = state["tasks"].get(str(event.get("TaskScheduledId")))
            return bool(task and task.get("chain") is not None)
        if kind == EventType.TIMER_FIRED:
            task = state["tasks"].get(str(event.get("TimerId")))
            return bool(task and task["kind"] == "retry_timer")
        return False

    starts = [e for e in batch if e["EventType"] == EventType.EXECUTION_STARTED]
    rest = [e for e in batch if e["EventType"] != EventType.EXECUTION_STARTED]
    return starts + [e for e in rest if allocates(e)] + [e for e in rest if not allocates(e)]


def _same_action(old: dict[str, Any], action: dict[str, Any]) -> bool:
    if old["t"] != action.get("actionType"):
        return False
    if old.get("name") and (action.get("functionName") or "").lower() != old["name"].lower():
        return False
    if old.get("iid") and action.get("instanceId") and action["instanceId"] != old["iid"]:
        return False
    return old.get("ev") == action.get("externalEventName")


def _nondeterminism_message(old: dict[str, Any], action: dict[str, Any]) -> str:
    before = _ACTION_NAMES.get(old["t"], f"an action of type {old['t']}")
    now = _ACTION_NAMES.get(action.get("actionType", -1), f"an action of type {action.get('actionType')}")
    return (
        "Non-Deterministic workflow detected: A previous execution of "
        f"this orchestration scheduled {before} with sequence number {old['id']} named "
        f"'{old.get('name') or old.get('ev')}', but the current orchestration replay instead scheduled {now} "
        f"named '{action.get('functionName') or action.get('externalEventName')}' with this sequence number. "
        "Was a change made to the orchestrator code after this instance had already started running?"
    )
