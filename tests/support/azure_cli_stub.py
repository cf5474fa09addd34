"""Stand-ins for the ``az`` and ``azd`` CLIs, for running scripts/azure against a scripted Azure.

Neither CLI can sign in to Azure here, so the hooks' tests put these first on ``PATH``. Each records its call (tool,
arguments, time) as one JSON line, and answers from a scenario: for a command (its leading words, up to the first
flag, e.g. ``functionapp keys list``), a list of answers taken one per call, the last one repeated. An answer is
``{"out": "...", "rc": 0}``; ``out`` may hold ``{now-5s}``, today's UTC time shifted, as Azure's ISO 8601.
Commands without an answer succeed and print nothing, as most ``--output none`` calls do.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

STUB = """#!{python}
import sys
sys.path.insert(0, {root!r})
from tests.support.azure_cli_stub import answer
sys.exit(answer({tool!r}, sys.argv[1:]))
"""


@dataclass
class Call:
    tool: str
    args: list[str]

    @property
    def command(self) -> str:
        return command_of(self.args)

    def option(self, name: str) -> str | None:
        """The value after ``name`` (the last one, as argparse takes it), or None."""
        found = [self.args[i + 1] for i, a in enumerate(self.args[:-1]) if a == name]
        return found[-1] if found else None


def command_of(args: list[str]) -> str:
    words = []
    for arg in args:
        if arg.startswith("-"):
            break
        words.append(arg)
    return " ".join(words)


def install(bin_dir: Path, scenario: dict[str, list[dict[str, Any]]], root: Path) -> dict[str, str]:
    """Write ``az`` and ``azd`` into ``bin_dir``; returns the environment that puts them first on PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in ("az", "azd"):
        path = bin_dir / tool
        path.write_text(STUB.format(python=sys.executable, root=str(root), tool=tool))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    state = bin_dir / "state"
    state.mkdir(exist_ok=True)
    (state / "scenario.json").write_text(json.dumps(scenario))
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "AZURE_CLI_STUB_STATE": str(state)}


def calls(bin_dir: Path) -> list[Call]:
    log = bin_dir / "state" / "calls.jsonl"
    if not log.exists():
        return []
    return [Call(c["tool"], c["args"]) for c in map(json.loads, log.read_text().splitlines())]


def record(state: Path, tool: str, args: list[str]) -> None:
    """Append one line to the call log (also used by the tests' health endpoint, so order is one timeline)."""
    with (state / "calls.jsonl").open("a") as log:
        log.write(json.dumps({"tool": tool, "args": args}) + "\n")


def answer(tool: str, args: list[str]) -> int:
    state = Path(os.environ["AZURE_CLI_STUB_STATE"])
    record(state, tool, args)
    key = f"{tool} {command_of(args)}".strip()
    answers = json.loads((state / "scenario.json").read_text()).get(key, [])
    if not answers:
        return 0
    counts_path = state / "counts.json"
    counts = json.loads(counts_path.read_text()) if counts_path.exists() else {}
    taken = counts.get(key, 0)
    counts[key] = taken + 1
    counts_path.write_text(json.dumps(counts))
    chosen = answers[min(taken, len(answers) - 1)]
    out = _times(str(chosen.get("out", "")))
    if out:
        print(out)
    if chosen.get("err"):
        print(chosen["err"], file=sys.stderr)
    return int(chosen.get("rc", 0))


def _times(text: str) -> str:
    def shifted(match: re.Match[str]) -> str:
        return (datetime.now(UTC) - timedelta(seconds=int(match.group(1)))).isoformat()

    return re.sub(r"\{now-(\d+)s\}", shifted, text)
