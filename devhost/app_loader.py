"""Load the Function App the way the Functions host does: settings first, then index its decorators.

``local.settings.json`` ``Values`` become environment variables (a variable already set wins, so tests and
scripts can override), then the app module is imported and ``app.get_functions()`` is read once.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: str
    methods: frozenset[str]
    auth_level: str
    arg_name: str
    handler: Any


def load_local_settings(path: Path) -> int:
    """Apply ``Values`` from a local.settings.json; returns how many were applied."""
    if not path.is_file():
        return 0
    values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    applied = 0
    for key, value in values.items():
        if key not in os.environ and value not in (None, ""):
            os.environ[key] = str(value)
            applied += 1
    return applied


def load_app(module_name: str, app_dir: Path) -> func.FunctionApp:
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    module = importlib.import_module(module_name)
    app = getattr(module, "app", None)
    if not isinstance(app, func.FunctionApp):
        raise RuntimeError(f"{module_name}.py defines no FunctionApp named 'app'")
    return app


def http_functions(app: func.FunctionApp, default_auth: str = "function") -> list[HttpFunction]:
    found = []
    for function in app.get_functions():
        trigger = function.get_trigger()
        if trigger is None or trigger.get_binding_name() != "httpTrigger":
            continue
        spec = trigger.get_dict_repr()
        methods = frozenset(str(getattr(m, "value", m)).upper() for m in spec.get("methods") or [])
        level = spec.get("authLevel")
        name = str(function.get_function_name())
        found.append(
            HttpFunction(
                name=name,
                route=str(spec.get("route") or name),
                methods=methods,
                auth_level=str(getattr(level, "value", level) or default_auth).lower(),
                arg_name=spec["name"],
                handler=function.get_user_function(),
            )
        )
    return found


def route_prefix(app_dir: Path) -> str:
    host_json = app_dir / "host.json"
    if not host_json.is_file():
        return "api"
    config = json.loads(host_json.read_text(encoding="utf-8"))
    return str(config.get("extensions", {}).get("http", {}).get("routePrefix", "api")).strip("/")
