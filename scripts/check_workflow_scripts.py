"""Compile every inline script in the GitHub workflows; print each one that would fail when the step runs.

A workflow's ``run:`` block is only ever run on GitHub, on the day of a deploy: a script that cannot even be parsed
fails there and nowhere before (the deploy workflow once had a ``python3 -c`` whose f-string was a SyntaxError on
every Python). So each step's script is checked here as the runner would run it:

* bash (the default shell on Linux runners): ``shellcheck`` at warning level, with each ``${{ ... }}`` expression
  replaced by a plain word, as actionlint does before the same check;
* ``shell: python``: compiled whole; and in bash, each ``python``/``python3 -c '...'`` program: compiled.

Usage (in the tools venv): python scripts/check_workflow_scripts.py SHELLCHECK .github/workflows
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)
PYTHON = re.compile(r"^(?:.*/)?python(?:3(?:\.\d+)?)?$")


def steps(workflow: Path) -> Iterator[tuple[str, str, str]]:
    """(where, shell, script) of every ``run:`` step, the shell as GitHub resolves it (step, then job defaults)."""
    import yaml

    document: dict[str, Any] = yaml.safe_load(workflow.read_text()) or {}
    top = (document.get("defaults") or {}).get("run", {}).get("shell", "bash")
    for job_name, job in (document.get("jobs") or {}).items():
        default = (job.get("defaults") or {}).get("run", {}).get("shell", top)
        for index, step in enumerate(job.get("steps") or []):
            if "run" in step:
                where = f"{workflow}: jobs.{job_name}.steps[{index}] ({step.get('name', step['run'][:40])!r})"
                yield where, str(step.get("shell", default)), str(step["run"])


def python_programs(script: str) -> Iterator[str]:
    """The program of each ``python -c PROGRAM`` in a bash script, unquoted as bash would pass it."""
    try:
        words = shlex.split(EXPRESSION.sub("GHA_EXPRESSION", script), comments=True, posix=True)
    except ValueError:
        return  # unbalanced quotes: shellcheck reports the script itself
    for i, word in enumerate(words[:-2]):
        if PYTHON.match(word) and words[i + 1] == "-c":
            yield words[i + 2]


def python_errors(where: str, program: str) -> list[str]:
    try:
        compile(program, where, "exec")
    except SyntaxError as exc:
        return [f"{where}: python: {exc.msg} (line {exc.lineno}): {(exc.text or '').strip()}"]
    return []


def bash_errors(shellcheck: str, where: str, script: str) -> list[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write("#!/usr/bin/env bash\n" + EXPRESSION.sub("GHA_EXPRESSION", script))
    checked = subprocess.run(
        [shellcheck, "--shell=bash", "--severity=warning", "--format=gcc", f.name],
        capture_output=True,
        text=True,
        check=False,
    )
    Path(f.name).unlink()
    return [f"{where}: {line.split(':', 1)[1]}" for line in checked.stdout.splitlines()]


def check(shellcheck: str, folder: Path) -> list[str]:
    errors: list[str] = []
    for workflow in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        for where, shell, script in steps(workflow):
            if shell.startswith("python"):
                errors += python_errors(where, script)
                continue
            if shell.startswith("bash") or shell == "sh":
                errors += bash_errors(shellcheck, where, script)
            for program in python_programs(script):
                errors += python_errors(where, program)
    return errors


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: check_workflow_scripts.py SHELLCHECK WORKFLOWS_FOLDER", file=sys.stderr)
        return 2
    errors = check(argv[1], Path(argv[2]))
    for error in errors:
        print(error)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
