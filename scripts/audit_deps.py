"""pip-audit over the app's and the worker's requirements, or a skip that says why, only when its data is unreachable.

Usage (scripts/check-infra runs it with the tools venv's Python): audit_deps.py REQUIREMENTS... [--ignore FILE]

pip-audit's default service reads each release's known vulnerabilities from PyPI's JSON API,
``https://pypi.org/pypi/<project>/<version>/json`` (its ``vulnerabilities``, from the PyPA advisory database). Where
that API does not answer, pip-audit reports every package as "not found on PyPI" and, without ``--strict``, passes:
an audit that checked nothing. So this first asks the API about a release that certainly exists (pip-audit's own):
- it answers: pip-audit runs with ``--strict`` (a package it cannot audit fails the check), and any vulnerability
  fails it unless its id is listed, with the reason, in the ignore file (``ID  # why``);
- it does not (a machine that reaches only package indexes, as this project's development machines: the API
  answers 404 for every release): the check prints SKIPPED with the reason and passes, unless
  ``PIP_AUDIT_REQUIRED=1`` makes that a failure too (for a CI that must audit).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path

API = "https://pypi.org/pypi/{project}/{version}/json"


def service_problem(timeout_s: float = 15.0) -> str | None:
    """Why PyPI's per-release vulnerability data cannot be read from here, or None when it can."""
    url = API.format(project="pip-audit", version=version("pip-audit"))
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310  # fixed https URL  # nosec B310
            if "vulnerabilities" not in json.load(response):
                return f"{url} answered without a 'vulnerabilities' field"
    except urllib.error.HTTPError as exc:
        return f"{url} answered HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return f"{url} could not be read ({type(exc).__name__}: {exc})"
    return None


def ignored(path: Path) -> list[str]:
    """Vulnerability ids from the ignore file: one per line, each with its reason after ``#``."""
    ids = []
    for number, line in enumerate(path.read_text().splitlines(), 1) if path.is_file() else []:
        entry, _, reason = line.partition("#")
        if entry.strip():
            if not reason.strip():
                sys.exit(f"{path}:{number}: {entry.strip()} is ignored without a reason")
            ids.append(entry.strip())
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", nargs="+", type=Path)
    parser.add_argument("--ignore", type=Path, default=Path(__file__).with_name("pip-audit-ignore.txt"))
    args = parser.parse_args()
    problem = service_problem()
    if problem is not None:
        required = os.environ.get("PIP_AUDIT_REQUIRED") == "1"
        print(f"pip-audit {'FAILED' if required else 'SKIPPED'}: its vulnerability data is unreachable: {problem}")
        print("  (pip-audit would call every package 'not found'; it runs where pypi.org's JSON API answers)")
        return 1 if required else 0
    command = [sys.executable, "-m", "pip_audit", "--strict", "--progress-spinner", "off"]
    for requirements in args.requirements:
        command += ["--requirement", str(requirements)]
    for vulnerability in ignored(args.ignore):
        command += ["--ignore-vuln", vulnerability]
    return subprocess.run(command, check=False).returncode  # nosec B603


if __name__ == "__main__":
    sys.exit(main())
