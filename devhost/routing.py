"""Azure Functions route templates (ASP.NET style) matched the way the Functions host matches them.

Supported: literal segments (case-insensitive), ``{name}``, ``{name?}`` (optional, trailing), ``{name:int}``
style constraints (``int``, ``long``, ``guid``, ``bool``, ``alpha``) and a trailing catch-all ``{*rest}``.
Precedence is ASP.NET's: segment by segment from the left, a literal beats a constrained parameter, which
beats a plain one, then an optional one, then a catch-all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

_PARAM = re.compile(r"^\{(?P<star>\*)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<constraint>[a-z]+))?(?P<opt>\?)?\}$")
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "bool": r"(?i:true|false)",
    "alpha": r"[A-Za-z]+",
}


def compile_template(template: str) -> tuple[re.Pattern[str], tuple[int, ...]]:
    """Return the regex for a template and its precedence key (lower sorts first)."""
    parts = [p for p in template.strip("/").split("/") if p]
    pattern, rank = "", []
    for part in parts:
        match = _PARAM.match(part)
        if match is None:
            if "{" in part or "}" in part:
                raise ValueError(f"unsupported route segment '{part}' in '{template}'")
            pattern += "/" + re.escape(part)
            rank.append(0)
            continue
        name = match["name"]
        if match["star"]:
            pattern += f"(?:/(?P<{name}>.*))?"
            rank.append(4)
            continue
        constraint = match["constraint"]
        if constraint and constraint not in _CONSTRAINTS:
            raise ValueError(f"unsupported route constraint '{constraint}' in '{template}'")
        body = _CONSTRAINTS.get(constraint or "", r"[^/]+")
        segment = f"/(?P<{name}>{body})"
        pattern += f"(?:{segment})?" if match["opt"] else segment
        rank.append(3 if match["opt"] else 1 if constraint else 2)
    return re.compile(f"^{pattern}/?$", re.IGNORECASE), tuple(rank)


@dataclass
class Route(Generic[T]):
    template: str
    methods: frozenset[str]
    target: T
    regex: re.Pattern[str] = field(init=False)
    precedence: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.regex, self.precedence = compile_template(self.template)


class Router(Generic[T]):
    def __init__(self) -> None:
        self._routes: list[Route[T]] = []

    def add(self, template: str, methods: frozenset[str], target: T) -> None:
        self._routes.append(Route(template, methods, target))
        self._routes.sort(key=lambda r: r.precedence)

    def match(self, path: str, method: str) -> tuple[T, dict[str, str]] | None:
        """Find the route for a path (relative to the route prefix); a method mismatch is no match, as in Azure."""
        path = "/" + path.strip("/")
        for route in self._routes:
            found = route.regex.match(path)
            if found and (not route.methods or method.upper() in route.methods):
                params = {k: v for k, v in found.groupdict().items() if v is not None}
                return route.target, params
        return None
