"""What a function's signature asks for: the Python worker picks each argument's converter from its annotation."""

from __future__ import annotations

import inspect
import os
import re
import typing
from typing import Any

from devhost.app_loader import FunctionInfo
from devhost.triggers.config import TriggerConfigError

SERVED_INPUTS = {"durableClient"}  # non-trigger inputs the Invoker's extra_inputs supplies


def annotation_of(handler: Any, arg_name: str) -> Any:
    """The resolved annotation (``from __future__ import annotations`` leaves strings), or None."""
    try:
        return typing.get_type_hints(handler).get(arg_name)
    except Exception:  # an unresolvable name: the raw annotation is the best we have
        parameter = inspect.signature(handler).parameters.get(arg_name)
        if parameter is None or parameter.annotation is inspect.Parameter.empty:
            return None
        return parameter.annotation


def parameter_names(handler: Any) -> set[str]:
    return set(inspect.signature(handler).parameters)


def resolve_settings(text: str) -> str:
    """``%name%`` in a binding is an app setting, resolved once at start-up as the host does."""

    def setting(match: re.Match[str]) -> str:
        value = os.environ.get(match.group(1))
        if value is None:
            raise TriggerConfigError(f"app setting {match.group(1)!r} used in {text!r} is not set")
        return value

    return re.sub(r"%([^%]+)%", setting, text)


def check_bindings_served(function: FunctionInfo) -> None:
    """Output bindings and most inputs are not implemented here: refuse at start-up, not at every message."""
    for binding in function.bindings:
        if binding is function.trigger:
            continue
        kind = str(binding.get("type", ""))
        if str(binding.get("direction", "")).lower() == "out" or kind not in SERVED_INPUTS:
            raise TriggerConfigError(
                f"function {function.name!r}: binding {kind!r} ({binding.get('name')!r}) is not served by devhost; "
                "use the storage SDK in the function instead"
            )
