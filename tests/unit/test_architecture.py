"""The house's import rules (issue 23), held by import-linter's contracts in ``pyproject.toml``.

The real tree must keep every contract; and each contract must be able to break: a copy of the product with one
forbidden import added is refused, naming the contract. Without the second half a contract that matched no module
(a renamed package, a typo in a layer) would pass forever.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("shared", "functions", "worker", "devhost", "client")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_product_keeps_every_import_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("shared/transcripts/writer.py", "shared.jobs.store", "shared/ stages import only downward"),
        ("shared/azure/storage.py", "shared.audio.probe", "shared/ stages import only downward"),
        ("shared/config.py", "functions.api.http", "shared/ serves every process and imports none of them"),
        ("functions/pipeline/activities.py", "functions.api.jobs", "the API and the pipeline meet only in shared/"),
        ("functions/api/health.py", "devhost.azurite", "never imports the one-machine host"),
        ("worker/segment_worker.py", "functions.pipeline.ingest", "the worker and the Function App are separate"),
        ("worker/pre/level.py", "worker.segment_worker", "the queue loop above the engines above"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, bad_import: str, contract: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "models"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\nimport {bad_import}  # noqa\n")
    result = _lint(tmp_path)
    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if line.rstrip().endswith("BROKEN")]
    assert any(contract in line for line in broken), result.stdout


def test_git_ignores_no_module_of_the_product() -> None:
    """A clean clone has only what git tracks: an ignore rule that matches a package folder (``transcripts/`` once
    matched ``shared/transcripts/``) leaves its new modules out of every clone while the work tree still passes."""
    modules = [str(p.relative_to(ROOT)) for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    modules = [m for m in modules if "__pycache__" not in m]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *modules], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    assert ignored == []


def test_the_function_apps_package_leaves_out_none_of_its_modules() -> None:
    """``azd deploy`` packages the app without what ``.funcignore`` names (gitignore syntax, so a bare ``transcripts``
    matched ``shared/transcripts/`` too and the deployed app could not import its writer)."""
    shipped = ["function_app.py", "host.json", "requirements.txt", "functions", "shared"]
    left_out = subprocess.run(
        ["git", "ls-files", "--cached", "--ignored", "--exclude-from=.funcignore", "--", *shipped],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert left_out == []
    assert (ROOT / "shared/transcripts/writer.py").exists()
