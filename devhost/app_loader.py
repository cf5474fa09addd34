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

from azure.functions.decorators.function_app import FunctionRegister


@dataclass(frozen=True)
class FunctionInfo:
    """One function of the app, as the host indexed it: raw binding dicts, the trigger, the callable."""

    name: str
    bindings: tuple[dict[str, Any], ...]
    handler: Any

    @property
    def trigger(self) -> dict[str, Any]:
        return next(b for b in self.bindings if str(b.get("type", "")).endswith("Trigger"))

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    def inputs_of_type(self, binding_type: str) -> list[dict[str, Any]]:
        return [b for b in self.bindings if b.get("type") == binding_type]


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: str
    methods: frozenset[str]
    auth_level: str
    arg_name: str
    handler: Any
    info: FunctionInfo


@dataclass(frozen=True)
class AppIndex:
    """Every function of the app, read once (``app.get_functions()`` is not idempotent)."""

    functions: tuple[FunctionInfo, ...]
    http: tuple[HttpFunction, ...]

    def by_trigger(self, trigger_type: str) -> list[FunctionInfo]:
        return [f for f in self.functions if f.trigger_type == trigger_type]


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


def load_app(module_name: str, app_dir: Path) -> FunctionRegister:
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    module = importlib.import_module(module_name)
    app = getattr(module, "app", None)
    if not isinstance(app, FunctionRegister):  # what the Python worker accepts: FunctionApp, DFApp, ...
        raise RuntimeError(f"{module_name}.py defines no FunctionApp named 'app'")
    return app


def index_app(app: FunctionRegister, default_auth: str = "function") -> AppIndex:
    functions, http = [], []
    for function in app.get_functions():
        bindings = tuple(json.loads(raw) for raw in function.get_raw_bindings())
        info = FunctionInfo(str(function.get_function_name()), bindings, function.get_user_function())
        functions.append(info)
        if info.trigger_type == "httpTrigger":
            http.append(_http_function(info, default_auth))
    return AppIndex(tuple(functions), tuple(http))


def _http_function(info: FunctionInfo, default_auth: str) -> HttpFunction:
    spec = info.trigger
    return HttpFunction(
        name=info.name,
        route=str(spec.get("route") or info.name),
        methods=frozenset(str(m).upper() for m in spec.get("methods") or []),
        auth_level=str(spec.get("authLevel") or default_auth).lower(),
        arg_name=str(spec["name"]),
        handler=info.handler,
        info=info,
    )


def route_prefix(app_dir: Path) -> str:
    host_json = app_dir / "host.json"
    if not host_json.is_file():
        return "api"
    config = json.loads(host_json.read_text(encoding="utf-8"))
    return str(config.get("extensions", {}).get("http", {}).get("routePrefix", "api")).strip("/")
