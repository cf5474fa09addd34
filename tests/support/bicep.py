"""Read the deployment's Bicep as data, so tests can hold it against the code.

There is no Bicep compiler here, so this parses with pycep (checkov's parser) and evaluates the small part of the
language this repository's templates use: parameters, variables, object and array literals, string interpolation,
property access, ``?:``, ``!``, ``&&``, ``||``, ``==``, ``>``, ``+``, ``-``, and the functions ``union``,
``concat``, ``empty``, ``string``, ``json``, ``subscriptionResourceId``. What only Azure knows (a resource's id or
endpoint, a module's output, ``guid()``) evaluates to a :class:`Ref` naming where it comes from, e.g.
``identities.outputs.appPrincipalId``.

pycep gives identifiers and string literals alike as plain strings; a string naming a parameter, variable, resource,
module or loop item is read as that symbol, any other as a literal. Unsupported expressions raise, so a template
that outgrows this reader fails its tests loudly instead of being misread.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

INTERPOLATION = re.compile(r"\$\{([^}]*)\}")
IDENTIFIER_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


@dataclass(frozen=True)
class Ref:
    """A value known only once deployed: where it comes from, as a dotted path."""

    path: str


@dataclass(frozen=True)
class Assignment:
    """One role assignment: who, which role (a built-in role's GUID or a Ref to a custom role), on what."""

    principal: Any
    role: Any
    scope_type: str
    scope_name: Any


@cache
def _parse(path: Path) -> dict[str, Any]:
    tree: dict[str, Any] = BicepParser().parse(file_path=path)
    return tree


class BicepFile:
    """One template, with values for its parameters (unset ones take their default, or become a :class:`Ref`)."""

    def __init__(self, path: Path, params: Mapping[str, Any] | None = None) -> None:
        self.path = path
        self.tree = _parse(path)
        given = dict(params or {})
        unknown = set(given) - set(self.tree.get("parameters", {}))
        if unknown:
            raise KeyError(f"{path.name} has no parameters {sorted(unknown)}")
        self.resources: dict[str, Any] = self.tree.get("resources", {})
        self.modules: dict[str, Any] = self.tree.get("modules", {})
        self._variables: dict[str, Any] = {}
        self.params: dict[str, Any] = {}
        for name, spec in self.tree.get("parameters", {}).items():
            self.params[name] = given[name] if name in given else self._default(name, spec)

    def _default(self, name: str, spec: Mapping[str, Any]) -> Any:
        if spec.get("default") is None:
            return Ref(f"param:{name}")
        return self.eval(spec["default"])

    # --- symbols -------------------------------------------------------------------------------------------------
    def var(self, name: str) -> Any:
        if name not in self._variables:
            self._variables[name] = self.eval(self.tree["variables"][name]["value"])
        return self._variables[name]

    def module(self, symbol: str) -> BicepFile:
        """The module's template, with the parameters this file passes it."""
        declared = self.modules[symbol]
        body = declared["config"]
        if "condition" in body and "params" not in body:
            body = body["config"]
        params = {k: self.eval(v) for k, v in body.get("params", {}).items()}
        return BicepFile(self.path.parent / declared["detail"]["path"], params)

    def deploys(self, symbol: str) -> bool:
        """Whether a module or resource declared ``= if (...)`` is deployed with these parameters."""
        declared = self.modules.get(symbol) or self.resources[symbol]
        condition = declared["config"].get("condition")
        return True if condition is None else _truth(self.eval(condition))

    def resource_type(self, symbol: str) -> str:
        """``type@apiVersion`` as the template declares the resource."""
        declared = self.resources[symbol]
        return f"{declared['type']}@{declared['api_version']}"

    def resource_body(self, symbol: str, item: Mapping[str, Any] | None = None) -> Any:
        config = self.resources[symbol]["config"]
        if "loop_type" in config or "condition" in config:
            config = config["config"]
        return self.eval(config, item or {})

    def instances(self, symbol: str) -> Iterator[Any]:
        """The evaluated bodies of a resource: none if its condition is false, one per item of a loop."""
        config = self.resources[symbol]["config"]
        if "loop_type" in config:
            yield from self._loop(config, {})
        elif "condition" in config:
            if _truth(self.eval(config["condition"])):
                yield self.eval(config["config"])
        else:
            yield self.eval(config)

    def _loop(self, node: Mapping[str, Any], local: Mapping[str, Any]) -> list[Any]:
        """``[for x in array: ...]``, or ``[for x in items(object): ...]`` (pycep's object loop)."""
        loop, detail = node["loop_type"], node["loop_type"]["detail"]
        if loop["type"] == "array":
            items = self.eval(detail["array_name"], local)
        elif loop["type"] == "object":
            source = self.eval(detail["object_name"], local)
            if isinstance(source, Ref):
                raise ValueError(f"cannot loop over {source!r}")
            items = [{"key": k, "value": v} for k, v in sorted(source.items())]
        else:
            raise NotImplementedError(f"loop type {loop['type']}")
        if isinstance(items, Ref):
            raise ValueError(f"cannot loop over {items!r}")
        out = []
        for item in items:
            scope = {**local, detail["item_name"]: item}
            if node.get("condition") is None or _truth(self.eval(node["condition"], scope)):
                out.append(self.eval(node["config"], scope))
        return out

    def of_type(self, resource_type: str) -> list[str]:
        return [s for s, r in self.resources.items() if r["type"] == resource_type]

    def name_of(self, symbol: str) -> Any:
        return self.resource_body(symbol)["name"]

    def role_assignments(self) -> list[Assignment]:
        found = []
        for symbol in self.of_type("Microsoft.Authorization/roleAssignments"):
            for body in self.instances(symbol):
                scope = self.resources[body["scope"].path]
                found.append(
                    Assignment(
                        principal=body["properties"]["principalId"],
                        role=body["properties"]["roleDefinitionId"],
                        scope_type=scope["type"],
                        scope_name=self.name_of(body["scope"].path),
                    )
                )
        return found

    # --- expressions ---------------------------------------------------------------------------------------------
    def eval(self, node: Any, local: Mapping[str, Any] | None = None) -> Any:
        local = local or {}
        if isinstance(node, str):
            return self._string(node, local)
        if isinstance(node, list):
            return [self.eval(n, local) for n in node]
        if not isinstance(node, dict):
            return node  # numbers, booleans, null
        if set(node) == {"operator"}:
            return self._operator(node["operator"], local)
        if set(node) == {"function"}:
            return self._function(node["function"], local)
        if "loop_type" in node:
            return self._loop(node, local)
        return {_key(k): self.eval(v, local) for k, v in node.items()}

    def _symbol(self, name: str, local: Mapping[str, Any]) -> tuple[bool, Any]:
        if name in local:
            return True, local[name]
        if name in self.params:
            return True, self.params[name]
        if name in self.tree.get("variables", {}):
            return True, self.var(name)
        if name in self.resources or name in self.modules:
            return True, Ref(name)
        return False, None

    def _string(self, text: str, local: Mapping[str, Any]) -> Any:
        found, value = self._symbol(text, local)
        if found:
            return value
        if "${" not in text:
            return text
        parts = [self._path(expr, local) for expr in INTERPOLATION.findall(text)]
        if any(isinstance(p, Ref) for p in parts) or any(not isinstance(p, (str, int)) for p in parts):
            return Ref(f"'{text}'")
        values = iter(parts)
        return INTERPOLATION.sub(lambda _: str(next(values)), text)

    def _path(self, expr: str, local: Mapping[str, Any]) -> Any:
        """``a.b.c`` inside an interpolation."""
        if not IDENTIFIER_PATH.match(expr.strip()):
            return Ref(expr)
        head, *keys = expr.strip().split(".")
        found, value = self._symbol(head, local)
        if not found:
            return Ref(expr)
        for key in keys:
            value = _get(value, key)
        return value

    def _operator(self, op: Mapping[str, Any], local: Mapping[str, Any]) -> Any:
        kind, operands = op["type"], op["operands"]
        if kind == "property_accessor":
            value = self.eval(operands["operand_1"], local)
            key = operands["operand_2"]
            while isinstance(key, dict):  # a.(b.c): pycep nests the rest of the path to the right
                inner = key["operator"]["operands"]
                value, key = _get(value, inner["operand_1"]), inner["operand_2"]
            return _get(value, key)
        if kind == "conditional":
            chosen = "true_value" if _truth(self.eval(operands["condition"], local)) else "false_value"
            return self.eval(operands[chosen], local)
        if kind == "not":
            return not _truth(self.eval(operands["bool_value"], local))
        a, b = self.eval(operands["operand_1"], local), self.eval(operands["operand_2"], local)
        if kind == "and":
            return _truth(a) and _truth(b)
        if kind == "or":
            return _truth(a) or _truth(b)
        if isinstance(a, Ref) or isinstance(b, Ref):
            raise ValueError(f"cannot compare values known only in Azure: {a!r} {kind} {b!r}")
        comparisons = {
            "equals": lambda: a == b,
            "not_equals": lambda: a != b,
            "greater_than": lambda: a > b,
            "greater_than_or_equals": lambda: a >= b,
            "less_than": lambda: a < b,
            "substract": lambda: a - b,  # pycep's spelling of the minus operator
            "add": lambda: a + b,
        }
        if kind not in comparisons:
            raise NotImplementedError(f"operator {kind}")
        return comparisons[kind]()

    def _function(self, fn: Mapping[str, Any], local: Mapping[str, Any]) -> Any:
        kind, params = fn["type"], fn.get("parameters") or {}
        args = [self.eval(v, local) for v in params.values()]
        if kind == "union":
            return _union(args)
        if kind == "concat":
            return _concat(args)
        if kind == "empty":
            # A resource's id, endpoint or output is never empty once deployed.
            return False if isinstance(args[0], Ref) else len(args[0]) == 0
        if kind == "string":
            return args[0] if isinstance(args[0], (str, Ref)) else json.dumps(args[0])
        if kind == "json":
            return json.loads(args[0])
        if (
            kind == "subscription_resource_id"
            and params.get("resource_type") == "Microsoft.Authorization/roleDefinitions"
        ):
            return params["resource_name_1"]  # a built-in role's GUID
        return Ref(f"{kind}()")  # guid(), uniqueString(), resourceGroup(), environment(), ...


def _key(key: str) -> str:
    return key[1:-1] if len(key) > 1 and key[0] == key[-1] == "'" else key


def _get(value: Any, key: str) -> Any:
    if isinstance(value, Ref):
        return Ref(f"{value.path}.{key}")
    if isinstance(value, dict):
        return value[key]
    raise TypeError(f"cannot read .{key} of {value!r}")


def _truth(value: Any) -> bool:
    if isinstance(value, Ref):
        raise ValueError(f"cannot decide on a value known only in Azure: {value!r}")
    return bool(value)


def _union(args: list[Any]) -> Any:
    if any(isinstance(a, Ref) for a in args):
        return Ref("union()")
    merged: dict[str, Any] = {}
    for arg in args:
        merged.update(arg)
    return merged


def _concat(args: list[Any]) -> Any:
    if all(isinstance(a, list) for a in args):
        return [x for a in args for x in a]
    if all(isinstance(a, str) for a in args):
        return "".join(args)
    return Ref("concat()")
