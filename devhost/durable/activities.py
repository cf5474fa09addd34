"""Run one activity the way the worker and the extension do, and turn its outcome into a history event.

Input is the action's ``df_dumps`` text decoded by the worker's own ``ActivityTriggerConverter``; output is
``df_dumps`` of the return value. A failure becomes TaskFailed with the extension's ``Reason`` wording
("Activity function 'x' failed:  ValueError: bad", two spaces) and a one-line ``Details`` JSON, because apps
parse that text (protocol §4.3).
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

from azure.functions.durable_functions import ActivityTriggerConverter
from azure.functions.meta import Datum

from devhost.app_loader import FunctionInfo
from devhost.durable import events as ev
from devhost.invoker import Invoker

logger = logging.getLogger(__name__)


def run_activity(
    invoker: Invoker, function: FunctionInfo, name: str, task_id: int, input_text: str | None, instance_id: str
) -> dict[str, Any]:
    binding = function.trigger["name"]
    try:
        value = ActivityTriggerConverter.decode(Datum(input_text or "null", "string"), trigger_metadata=None)
        result = invoker.call(function, {binding: value})
        encoded = ActivityTriggerConverter.encode(result, expected_type=None).value
    except Exception as exc:
        logger.warning("activity %s failed (instance_id=%s): %s", name, instance_id, type(exc).__name__)
        return _failed(name, task_id, exc)
    return ev.task_completed(ev.utc_now(), task_id, encoded)


def _failed(name: str, task_id: int, exc: Exception) -> dict[str, Any]:
    message = f"{type(exc).__name__}: {exc}"
    stack = "".join(traceback.format_exception(exc))
    reason = f"Activity function '{name}' failed:  {message}".replace("\r", " ").replace("\n", " ")
    details = {
        "$type": "System.Exception, System.Private.CoreLib",
        "ClassName": "System.Exception",
        "Message": f" {message}",
        "StackTraceString": stack,
        "InnerException": {
            "ClassName": "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException",
            "Message": f"Result: Failure\nException: {message}\nStack: {stack}",
            "RemoteMessage": message,
            "RemoteStackTrace": stack,
        },
    }
    return ev.task_failed(ev.utc_now(), task_id, reason, json.dumps(details))


def unknown_activity(name: str, task_id: int) -> dict[str, Any]:
    """An activity that vanished between scheduling and running (e.g. the app changed across a restart)."""
    return _failed(name, task_id, LookupError(f"The function '{name}' doesn't exist or is not an activity"))
