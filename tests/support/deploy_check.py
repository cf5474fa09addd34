"""What the Function App needs at run time, checked in a virtualenv that holds ``requirements.txt`` and nothing else.

On Azure the Function App gets exactly the packages ``requirements.txt`` names (Flex Consumption builds them
remotely); a module missing there means the host indexes zero functions (an import at start-up) or an activity
fails on every job (an import inside a function). So this runs with only the standard library and that venv:

    .cache/deploy-venv/bin/python -m tests.support.deploy_check requirements.txt

and prints JSON: every third-party module that ``function_app.py``, ``functions/`` and ``shared/`` import (at the top
of a module or inside a function; ``if TYPE_CHECKING:`` blocks excluded) that does not import there (``missing``),
those that import only because another package happens to pull them in (``unlisted``: a direct import must be a
direct requirement, or an upgrade of that other package can remove it), and the functions the app registers with
their bindings, as the Functions host's indexing reads them (``app.get_functions()``).
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
APP_SOURCES = ("function_app.py", "functions", "shared")
LOCAL_PACKAGES = frozenset({"function_app", "functions", "shared"})
# Binding attributes that say what a binding is wired to; the rest (data types, internal flags) is noise.
BINDING_KEYS = ("type", "direction", "route", "methods", "authLevel", "path", "source", "queueName", "connection")


def sources(root: Path = ROOT) -> Iterator[Path]:
    for name in APP_SOURCES:
        path = root / name
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def imported_modules(path: Path) -> set[str]:
    """Absolute module names imported anywhere in ``path``, except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.update(_from_import(node.module, [alias.name for alias in node.names]))
    return found


def _from_import(module: str, names: list[str]) -> set[str]:
    """``from opentelemetry import trace``: in a namespace package (many distributions share ``opentelemetry``,
    as they share ``azure``) the modules that need a distribution are the ones imported, not the namespace."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return {module}
    if spec is None or spec.origin is not None:
        return {module}
    return {f"{module}.{name}" for name in names}


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def third_party(modules: set[str]) -> list[str]:
    return sorted(
        m for m in modules if m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] not in LOCAL_PACKAGES
    )


def requirement_names(requirements: Path) -> set[str]:
    """Normalised distribution names listed in a requirements file (``-r`` includes followed)."""
    names: set[str] = set()
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            names |= requirement_names(requirements.parent / line.split(maxsplit=1)[1])
        elif line and not line.startswith("-"):
            names.add(_normalise(re.split(r"[\s<>=!~;\[@]", line, maxsplit=1)[0]))
    return names


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def check(requirements: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    wanted = third_party(set().union(*(imported_modules(p) for p in sources())))
    missing: dict[str, str] = {}
    for module in wanted:
        try:
            importlib.import_module(module)
        except Exception as exc:  # ImportError, or a package that breaks on import: both stop the host
            missing[module] = f"{type(exc).__name__}: {exc}"
    listed = requirement_names(requirements)
    owners = _file_owners()
    unlisted: dict[str, str] = {}
    for module in wanted:
        owner = _owner(module, owners)
        if module not in missing and owner not in listed:
            unlisted[module] = owner
    return {"imports": wanted, "missing": missing, "unlisted": unlisted, "functions": _functions()}


def _file_owners() -> dict[Path, str]:
    """Installed file → the distribution that installed it (``azure`` is a namespace shared by many)."""
    owners: dict[Path, str] = {}
    for dist in importlib.metadata.distributions():
        for file in dist.files or []:
            owners[Path(str(dist.locate_file(file))).resolve()] = _normalise(dist.metadata["Name"])
    return owners


def _owner(module: str, owners: dict[Path, str]) -> str:
    spec = importlib.util.find_spec(module)
    origin = spec and (spec.origin or next(iter(spec.submodule_search_locations or []), None))
    if not origin:
        return "?"
    path = Path(origin).resolve()
    return owners.get(path) or owners.get(path / "__init__.py") or "?"


def _functions() -> dict[str, list[dict[str, Any]]] | str:
    """The app as the host indexes it: each function's bindings, or why ``function_app`` did not import."""
    try:
        import function_app
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return {
        f.get_function_name(): [_binding(b.get_dict_repr()) for b in f.get_bindings()]
        for f in function_app.app.get_functions()
    }


def _binding(raw: dict[str, Any]) -> dict[str, Any]:
    out = {k: raw[k] for k in BINDING_KEYS if raw.get(k) is not None}
    if "direction" in out:
        out["direction"] = str(out["direction"]).lower().rsplit(".", 1)[-1]
    if "methods" in out:
        out["methods"] = sorted(str(m).upper().rsplit(".", 1)[-1] for m in out["methods"])
    return out


if __name__ == "__main__":
    print(json.dumps(check(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "requirements.txt"), default=str))
