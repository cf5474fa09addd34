"""The durable engine: episode threads, an activity pool, a timer thread, and the client operations.

Every state change is one SQLite transaction (episode, activity completion, timer firing, client call), and work
is only dispatched after its transaction commits. So after a crash the database alone says what to do: re-run
activities whose work rows are still there (at least once, as in Azure), re-arm timers, replay instances that have
undelivered inbox events. Episodes of one instance never overlap (a lock per instance).
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from devhost.app_loader import AppIndex, FunctionInfo
from devhost.durable import events as ev
from devhost.durable import store as db
from devhost.durable.activities import run_activity, unknown_activity
from devhost.durable.episode import Episode, Outcome, Registry, child_instance, new_execution_id, new_state
from devhost.durable.polling import AZURE_MAX_QUEUE_POLLING_INTERVAL_S, PolledQueue
from devhost.invoker import Invoker

logger = logging.getLogger(__name__)

RUNNING_STATES = frozenset({"Running", "Pending", "Suspended", "ContinuedAsNew"})
_FORBIDDEN_ID_CHARS = frozenset("/\\?#")
STORE_RETRY_S = 1.0  # between tries to record a completion the store refused (a full disk)


class ClientError(Exception):
    """A refused client call; ``status`` is the HTTP status Azure answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def durable_name(function: FunctionInfo, key: str) -> str:
    return str(function.trigger.get(key) or function.name)


@dataclass(frozen=True)
class _Queued:
    """A work item on the work-item queue, known by its sequence number."""

    seq: int
    item: db.WorkItem = field(compare=False, hash=False)


@dataclass(order=True)
class _Timer:
    due: datetime
    seq: int
    item: db.WorkItem = field(compare=False)


class DurableEngine:
    def __init__(
        self,
        index: AppIndex,
        invoker: Invoker,
        db_path: Path,
        activity_threads: int = 16,
        episode_threads: int = 2,
        max_queue_polling_interval_s: float = AZURE_MAX_QUEUE_POLLING_INTERVAL_S,
    ) -> None:
        orchestrators = {durable_name(f, "orchestration"): f.handler for f in index.by_trigger("orchestrationTrigger")}
        self._activity_functions = {durable_name(f, "activity").lower(): f for f in index.by_trigger("activityTrigger")}
        self.registry = Registry(orchestrators, dict(self._activity_functions))
        self.invoker = invoker
        self.store = db.Store(db_path)
        self._stopping = threading.Event()
        # The control queue (instances with new events) and the work-item queue (activities), polled as on Azure.
        self._ready: PolledQueue[str] = PolledQueue(max_queue_polling_interval_s, self._stopping)
        self._work_items: PolledQueue[_Queued] = PolledQueue(max_queue_polling_interval_s, self._stopping)
        self._activities = ThreadPoolExecutor(activity_threads, thread_name_prefix="activity")
        self._episode_threads = episode_threads
        self._threads: list[threading.Thread] = []
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._timers: list[_Timer] = []
        self._timer_cv = threading.Condition()
        self.listeners: list[Callable[[str], None]] = []  # told the id of every instance after its episode

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Resume everything the database says is unfinished, then start the loops."""
        with self.store.transaction() as tx:
            work, waiting = db.all_work(tx), db.instances_with_inbox(tx)
        for item in work:
            self._dispatch(item)
        for instance_id in waiting:
            self._ready.add(instance_id)
        if work or waiting:
            logger.info("durable engine resumed %d work items and %d instances", len(work), len(waiting))
        for n in range(self._episode_threads):
            self._spawn(self._episode_loop, f"episodes-{n}")
        self._spawn(self._work_item_loop, "work-items")
        self._spawn(self._timer_loop, "timers")

    def stop(self) -> None:
        self._stopping.set()
        with self._timer_cv:
            self._timer_cv.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)
        self._activities.shutdown(wait=False, cancel_futures=True)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _lock(self, instance_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(instance_id, threading.Lock())

    # ------------------------------------------------------------------ episodes
    def _episode_loop(self) -> None:
        while not self._stopping.is_set():
            instance_id = self._ready.take()
            if instance_id is None:
                continue
            try:
                with self._lock(instance_id):
                    self._run_episode(instance_id)
            except Exception:
                logger.exception("episode of instance %s crashed; it will be retried", instance_id)
                self._retry_later(instance_id)

    def _retry_later(self, instance_id: str) -> None:
        timer = threading.Timer(1.0, self._ready.add, args=(instance_id,))
        timer.daemon = True
        timer.start()

    def _run_episode(self, instance_id: str) -> None:
        with self.store.transaction() as tx:
            outcome = self._episode_in(tx, instance_id)
        if outcome is None:
            return
        for item in outcome.work:
            self._dispatch(item)
        for child in outcome.new_instances:
            self._ready.add(child.instance.instance_id)
        for parent_id, _, _ in outcome.notify:
            self._ready.add(parent_id)
        if outcome.restart_event is not None:
            self._ready.add(instance_id)
        for listener in self.listeners:
            listener(instance_id)

    def _episode_in(self, tx: Any, instance_id: str) -> Outcome | None:
        inst, rows = db.get_instance(tx, instance_id), db.inbox(tx, instance_id)
        if inst is None or inst.terminal:
            db.delete_inbox(tx, [r.seq for r in rows])
            return None
        if inst.status == "Suspended" or not rows:
            return None
        current = [r for r in rows if r.execution_id in (None, inst.execution_id)]
        db.delete_inbox(tx, [r.seq for r in rows])  # stale rows (an older execution) go too
        if not current:
            return None
        old_execution = inst.execution_id
        outcome = Episode(inst, self.registry, ev.utc_now()).run([r.event for r in current])
        inst.last_updated_time = ev.fmt_time(ev.utc_now())
        self._commit_outcome(tx, inst, old_execution, outcome)
        return outcome

    def _commit_outcome(self, tx: Any, inst: db.Instance, old_execution: str, outcome: Outcome) -> None:
        if outcome.drop_all_work:
            db.delete_timers(tx, inst.instance_id, old_execution, None)
        elif outcome.canceled_timers:
            db.delete_timers(tx, inst.instance_id, old_execution, outcome.canceled_timers)
        outcome.work = [db.add_work(tx, item) for item in outcome.work]
        for child in outcome.new_instances:
            self._create_child(tx, child.instance, child.start_event, outcome)
        for parent_id, parent_execution, event in outcome.notify:
            db.add_inbox(tx, parent_id, parent_execution, event)
        if outcome.restart_event is not None:
            db.add_inbox(tx, inst.instance_id, inst.execution_id, outcome.restart_event)
        db.save_instance(tx, inst)

    def _create_child(self, tx: Any, child: db.Instance, start: dict[str, Any], outcome: Outcome) -> None:
        existing = db.get_instance(tx, child.instance_id)
        if existing is not None and not existing.terminal:
            parent = child.state["parent"]
            reason = f"An instance with ID '{child.instance_id}' already exists and is {existing.status}."
            event = ev.sub_orchestration_failed(ev.utc_now(), parent["task_id"], reason, None)
            outcome.notify.append((parent["instance_id"], parent["execution_id"], event))
            return
        if existing is not None:
            db.delete_instance(tx, child.instance_id)
        db.save_instance(tx, child)
        db.add_inbox(tx, child.instance_id, child.execution_id, start)

    # ------------------------------------------------------------------ activities and timers
    def _dispatch(self, item: db.WorkItem) -> None:
        if item.kind == "activity":
            self._work_items.add(_Queued(item.seq, item))
            return
        with self._timer_cv:
            heapq.heappush(self._timers, _Timer(ev.parse_time(item.due or ""), item.seq, item))
            self._timer_cv.notify()

    def _work_item_loop(self) -> None:
        while not self._stopping.is_set():
            queued = self._work_items.take()
            if queued is not None:
                self._activities.submit(self._activity, queued.item)

    def _activity(self, item: db.WorkItem) -> None:
        name = item.name or ""
        function = self._activity_functions.get(name.lower())
        if function is None:
            event = unknown_activity(name, item.task_id)
        else:
            event = run_activity(self.invoker, function, name, item.task_id, item.input, item.instance_id)
        if name.lower() in _held_activities():
            # Fault injection (tests/faults/): the activity has done its work, but its completion is not recorded
            # until the host dies; a restarted host runs it again (at least once, as Azure does).
            logger.warning(
                "fault injection: holding the completion of activity %s (instance_id=%s)", name, item.instance_id
            )
            self._stopping.wait()
            return
        self._complete_work(item, event)

    def _complete_work(self, item: db.WorkItem, event: dict[str, Any]) -> None:
        """Record an activity's result or a timer's firing, retrying while the store cannot be written.

        Called from the activity pool (whose futures nobody reads) and the timer thread: an error raised here was
        lost with the result, or ended the timer thread for good, so a job stalled for ever after a full disk. The
        work row stays until this commits, so a host killed meanwhile redoes the item on restart.
        """
        what = f"{item.kind} {item.task_id} of instance {item.instance_id}"
        tries = 0
        while True:
            try:
                self._record_completion(item, event)
            except sqlite3.Error as exc:
                tries += 1
                if tries == 1:
                    logger.error("durable store cannot record %s (%s); retrying every %.0f s", what, exc, STORE_RETRY_S)
                if self._stopping.wait(STORE_RETRY_S):
                    return
                continue
            if tries:
                logger.warning("durable store recorded %s after %d tries", what, tries + 1)
            return

    def _record_completion(self, item: db.WorkItem, event: dict[str, Any]) -> None:
        with self.store.transaction() as tx:
            if not db.work_exists(tx, item.seq):
                return  # the instance ended or moved on meanwhile: drop the result, as Azure does
            db.delete_work(tx, item.seq)
            db.add_inbox(tx, item.instance_id, item.execution_id, event)
        self._ready.add(item.instance_id)

    def _timer_loop(self) -> None:
        while not self._stopping.is_set():
            with self._timer_cv:
                due = self._pop_due_timer()
            if due is not None:
                self._complete_work(due.item, ev.timer_fired(ev.utc_now(), due.item.task_id, due.item.due or ""))

    def _pop_due_timer(self) -> _Timer | None:
        if not self._timers:
            self._timer_cv.wait(0.5)
            return None
        wait = (self._timers[0].due - ev.utc_now()).total_seconds()
        if wait > 0:
            self._timer_cv.wait(min(wait, 0.5))
            return None
        return heapq.heappop(self._timers)

    # ------------------------------------------------------------------ client operations
    def start_new(self, name: str, instance_id: str | None, input_text: str | None) -> str:
        if self.registry.orchestrator(name) is None:
            known = ", ".join(sorted(self.registry.orchestrators))
            raise ClientError(
                400,
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                f"function. Additional info: The following are the known orchestrator "
                f"functions: '{known}'.",
            )
        instance_id = instance_id or new_execution_id()
        _validate_instance_id(instance_id)
        with self.store.transaction() as tx:
            existing = db.get_instance(tx, instance_id)
            if existing is not None and existing.status in RUNNING_STATES:
                raise ClientError(500, f"An instance with ID '{instance_id}' already exists.")
            if existing is not None:
                db.delete_instance(tx, instance_id)
            created = child_instance(name, instance_id, None, None, ev.utc_now())
            created.instance.input = input_text
            created.instance.state = new_state(None)
            start = ev.execution_started(ev.utc_now(), instance_id, created.instance.execution_id, name, input_text)
            db.save_instance(tx, created.instance)
            db.add_inbox(tx, instance_id, created.instance.execution_id, start)
        self._ready.add(instance_id)
        return instance_id

    def raise_event(self, instance_id: str, name: str, input_text: str | None) -> None:
        with self.store.transaction() as tx:
            inst = self._running(tx, instance_id)
            db.add_inbox(tx, instance_id, None, ev.event_raised(ev.utc_now(), name, input_text))
            suspended = inst.status == "Suspended"
        if not suspended:
            self._ready.add(instance_id)

    def terminate(self, instance_id: str, reason: str | None) -> None:
        with self.store.transaction() as tx:
            inst = self._running(tx, instance_id)
            now = ev.utc_now()
            inst.history += [
                ev.execution_terminated(now, reason),
                ev.execution_completed(now, ev.OrchestrationStatus.TERMINATED, reason),
            ]
            inst.status, inst.output, inst.last_updated_time = "Terminated", json.dumps(reason), ev.fmt_time(now)
            db.delete_timers(tx, instance_id, inst.execution_id, None)
            db.delete_inbox(tx, [r.seq for r in db.inbox(tx, instance_id)])
            parent = inst.state.get("parent")
            if parent:
                failed = ev.sub_orchestration_failed(now, parent["task_id"], reason or "", None)
                db.add_inbox(tx, parent["instance_id"], parent["execution_id"], failed)
            db.save_instance(tx, inst)
        if parent:
            self._ready.add(parent["instance_id"])

    def suspend(self, instance_id: str, reason: str | None) -> None:
        self._set_suspended(instance_id, reason, True)

    def resume(self, instance_id: str, reason: str | None) -> None:
        self._set_suspended(instance_id, reason, False)
        self._ready.add(instance_id)

    def _set_suspended(self, instance_id: str, reason: str | None, suspended: bool) -> None:
        with self.store.transaction() as tx:
            inst = self._running(tx, instance_id)
            now = ev.utc_now()
            if suspended and inst.status != "Suspended":
                inst.history.append(ev.execution_suspended(now, reason))
                inst.state["status_before_suspend"] = inst.status
                inst.status = "Suspended"
            elif not suspended and inst.status == "Suspended":
                inst.history.append(ev.execution_resumed(now, reason))
                inst.status = inst.state.pop("status_before_suspend", "Running")
            inst.last_updated_time = ev.fmt_time(now)
            db.save_instance(tx, inst)

    def _running(self, tx: Any, instance_id: str) -> db.Instance:
        inst = db.get_instance(tx, instance_id)
        if inst is None:
            raise ClientError(404, "")
        if inst.terminal:
            raise ClientError(410, "")
        return inst

    def get(self, instance_id: str, with_history: bool = False) -> db.Instance | None:
        with self.store.snapshot() as tx:
            return db.get_instance(tx, instance_id, with_history)

    def query(self, where: str = "", params: tuple[Any, ...] = ()) -> list[db.Instance]:
        with self.store.snapshot() as tx:
            return db.list_instances(tx, where, params)

    def purge(self, instance_ids: list[str]) -> int:
        with self.store.transaction() as tx:
            return sum(db.delete_instance(tx, i) for i in instance_ids)


def _held_activities() -> set[str]:
    """``DEVHOST_HOLD_ACTIVITY_COMPLETION``: activity names (comma-separated) whose completions this host never
    records, so a test can kill it between an activity's work and its completion. Unset everywhere else."""
    names = os.environ.get("DEVHOST_HOLD_ACTIVITY_COMPLETION") or ""
    return {n.strip().lower() for n in names.split(",") if n.strip()}


def _validate_instance_id(instance_id: str) -> None:
    bad = (
        instance_id.startswith("@")
        or len(instance_id) > 256
        or any(c in _FORBIDDEN_ID_CHARS or ord(c) < 32 or ord(c) == 127 for c in instance_id)
    )
    if bad:
        raise ClientError(
            400,
            f"Instance ID '{instance_id}' is invalid: it must not start with '@', contain "
            "'/', '\\', '?', '#' or control characters, or exceed 256 characters.",
        )
