"""scripts/check-infra fails when it should: each check, on a copy of the repository broken for it.

The checks (hadolint, pycep, checkov, check-jsonschema, zizmor, bandit, pip-audit) run in their own venv, which
scripts/test has made by the time pytest runs (this test makes it otherwise). Each broken copy runs only the check it
targets. pip-audit skips where PyPI's vulnerability data cannot be reached (scripts/audit_deps.py); its broken copy
is then skipped too, since a skipped audit cannot fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def run(root: Path, only: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHECK_ONLY": only}
    return subprocess.run(
        [str(ROOT / "scripts" / "check-infra"), str(root)], env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shipped = ("function_app.py", "functions", "shared", "worker", "client", "devhost", "requirements.txt")
    for part in ("infra/bicep", ".github/workflows", "scripts/azure", *shipped):
        source, target = ROOT / part, tmp_path / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def break_dockerfile_lint(root: Path) -> None:
    edit(root / "worker/Dockerfile", "WORKDIR /app\n", "WORKDIR /app\nRUN apt-get update && apt-get install -y curl\n")


def break_bicep_syntax(root: Path) -> None:
    with (root / "infra/bicep/modules/identities.bicep").open("a") as f:
        f.write("\nresource broken 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n")


def break_bicep_security(root: Path) -> None:
    edit(root / "infra/bicep/modules/storage-data.bicep", "minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'")


def break_dockerfile_security(root: Path) -> None:
    edit(root / "worker/Dockerfile", "USER 10001:10001\n", "")


def break_workflow_schema(root: Path) -> None:
    edit(root / ".github/workflows/ci.yml", "timeout-minutes: 45", "timeout-minutes: forty-five")


def break_workflow_security(root: Path) -> None:
    edit(
        root / ".github/workflows/ci.yml",
        "        run: bash .ci/run",
        '        run: bash .ci/run\n      - run: echo "${{ github.event.pull_request.title }}"',
    )


def break_workflow_python(root: Path) -> None:
    """The deploy workflow's output step as it once was: backslashes inside single quotes reach Python, and the
    f-string is a SyntaxError on every version, found only on the day of a deploy."""
    snippet = """python3 -c 'import json; [print(f"{k}={v[\\"value\\"]}") for k, v in json.load(open("o")).items()]'"""
    edit(
        root / ".github/workflows/deploy.yml",
        "        run: scripts/azure/provision\n",
        f'        run: |\n          scripts/azure/provision\n          {snippet} >> "$GITHUB_ENV"\n',
    )


def break_workflow_shell(root: Path) -> None:
    edit(root / ".github/workflows/deploy.yml", "        run: scripts/azure/deploy-app\n", "        run: cd app; ls\n")


def break_hook_script(root: Path) -> None:
    """A hook that would run on in the wrong folder if cd failed (shellcheck SC2164)."""
    edit(root / "scripts/azure/wait-for-roles", 'cd "$(dirname', 'cd "$HOME"; cd "$(dirname')
    edit(root / "scripts/azure/wait-for-roles", "set -euo pipefail\n", "")


def break_python_security(root: Path) -> None:
    (root / "shared/run_command.py").write_text(
        "import subprocess\n\n\ndef run(command: str) -> None:\n    subprocess.run(command, shell=True, check=True)\n"
    )


def break_dependency_audit(root: Path) -> None:
    """requests 2.30.0 leaks Proxy-Authorization on redirects (CVE-2023-32681, PYSEC-2023-74; fixed in 2.31.0)."""
    requirements = root / "requirements.txt"
    text = requirements.read_text()
    assert "\nrequests==" in text
    requirements.write_text(
        "\n".join("requests==2.30.0" if line.startswith("requests==") else line for line in text.splitlines())
    )


BREAKERS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "hadolint": ("hadolint", break_dockerfile_lint),
    "bicep syntax": ("bicep-parse", break_bicep_syntax),
    "old TLS": ("checkov-bicep", break_bicep_security),
    "root user": ("checkov-dockerfile", break_dockerfile_security),
    "workflow schema": ("workflow-schema", break_workflow_schema),
    "template injection": ("zizmor", break_workflow_security),
    "python snippet": ("workflow-scripts", break_workflow_python),
    "run step shell": ("workflow-scripts", break_workflow_shell),
    "hook script": ("bash-lint", break_hook_script),
    "shell=True": ("bandit", break_python_security),
    "vulnerable pin": ("pip-audit", break_dependency_audit),
}


# scripts/test runs scripts/check-infra on this very tree just before pytest and stops if it fails; then an unbroken
# copy need not be checked again (19 s of checkov and friends), only broken ones.
CHECKED_BY_SCRIPTS_TEST = os.environ.get("TRANSCRIBE_TEST_INFRA_CHECKED") == "1"


def test_the_repository_passes_every_check(copy: Path) -> None:
    if CHECKED_BY_SCRIPTS_TEST:
        pytest.skip("scripts/test ran scripts/check-infra on this tree before pytest, and it passed")
    done = run(copy)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.parametrize("breakage", sorted(BREAKERS))
def test_each_check_fails_on_a_copy_broken_for_it(copy: Path, breakage: str) -> None:
    check, breaker = BREAKERS[breakage]
    if not CHECKED_BY_SCRIPTS_TEST or check == "pip-audit":  # the audit may skip, saying why: only a run tells
        before = run(copy, check)
        assert before.returncode == 0, f"{check} failed before the copy was broken"
        if "SKIPPED" in before.stdout:
            pytest.skip(before.stdout.strip().splitlines()[-2])  # the audit's data is unreachable here: it says why
    breaker(copy)
    done = run(copy, check)
    assert done.returncode != 0 and f"!! {check} failed" in done.stdout, done.stdout[-3000:]
