"""What Azure deploys is what requirements.txt installs: the app must import and index from that file alone.

Flex Consumption installs ``requirements.txt`` and nothing else. The dev venv holds far more (the worker's
faster-whisper, the client's httpx, the local host), so a test run there cannot tell whether the deployed app
imports. These tests build a virtualenv from ``requirements.txt`` alone (cached under ``.cache/`` by the file's hash
and the Python version; ~25 s to build with a warm pip cache) and run ``tests/support/deploy_check.py`` in it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
CACHE = ROOT / ".cache"

# Every function the host must index, with its bindings as "type direction details" (see _render).
EXPECTED_FUNCTIONS = {
    "create_upload": ["httpTrigger in POST uploads FUNCTION", "http out"],
    "get_upload": ["httpTrigger in GET uploads/{job_id} FUNCTION", "http out"],
    "get_job": ["durableClient in", "httpTrigger in GET jobs/{job_id} FUNCTION", "http out"],
    "cancel_job": ["durableClient in", "httpTrigger in DELETE jobs/{job_id} FUNCTION", "http out"],
    "get_transcript": ["httpTrigger in GET jobs/{job_id}/transcript FUNCTION", "http out"],
    "list_jobs": ["httpTrigger in GET jobs FUNCTION", "http out"],
    "health": ["durableClient in", "httpTrigger in GET health ANONYMOUS", "http out"],
    "openapi_document": ["httpTrigger in GET openapi.json ANONYMOUS", "http out"],
    "method_not_allowed": ["httpTrigger in HEAD OPTIONS {*path} ANONYMOUS", "http out"],
    "ingest": ["durableClient in", "blobTrigger in %TRANSCRIBE_UPLOADS_CONTAINER%/{job_id}/{name} EventGrid Storage"],
    "transcription": ["orchestrationTrigger in"],
    "transcribe_batch": ["orchestrationTrigger in"],
    "set_job_status": ["activityTrigger in"],
    "probe_audio": ["activityTrigger in"],
    "dispatch_segments": ["activityTrigger in"],
    "segment_sightings": ["activityTrigger in"],
    "merge_transcript": ["activityTrigger in"],
    "deliver_webhook": ["activityTrigger in"],
    "clean_up_batches": ["activityTrigger in"],
    "segment_results": ["durableClient in", "queueTrigger in segment-results Storage"],
    "batch_cleanup": ["durableClient in", "queueTrigger in batch-cleanup Storage"],
}


def deploy_venv(requirements: str, name: str) -> Path:
    """A virtualenv with exactly these requirements, reused while they (comments aside) and Python are unchanged."""
    lines = sorted(line.split("#", 1)[0].strip() for line in requirements.splitlines())
    key = hashlib.sha256("\n".join([sys.version, *filter(None, lines)]).encode()).hexdigest()[:16]
    venv = CACHE / f"{name}-{key}"
    if (venv / ".complete").exists():
        return venv
    for stale in CACHE.glob(f"{name}-" + "?" * len(key)):
        shutil.rmtree(stale, ignore_errors=True)
    venv.mkdir(parents=True)
    (venv / "requirements.txt").write_text(requirements)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(venv / "requirements.txt")], check=True, capture_output=True, text=True)
    (venv / ".complete").touch()
    return venv


def run_check(venv: Path, requirements: Path) -> dict[str, Any]:
    """The check, with no environment to lean on: no settings, no PYTHONPATH, only the venv and the repo."""
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "tests.support.deploy_check", str(requirements)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout))


def _render(binding: dict[str, Any]) -> str:
    details = [*binding.get("methods", []), binding.get("route"), binding.get("path"), binding.get("queueName")]
    details += [binding.get("authLevel"), binding.get("source"), binding.get("connection")]
    return " ".join([binding["type"], binding["direction"], *(str(d) for d in details if d)])


@pytest.fixture(scope="module")
def requirements_venv() -> Path:
    return deploy_venv((ROOT / "requirements.txt").read_text(), "deploy-venv")


def test_every_import_of_the_app_resolves_from_requirements_txt_alone(requirements_venv: Path) -> None:
    found = run_check(requirements_venv, ROOT / "requirements.txt")
    assert found["missing"] == {}, "modules the deployed app imports but requirements.txt does not install"
    assert found["unlisted"] == {}, "imported directly but installed only as another package's dependency"
    # The lazily imported decoders are in the list (the probe activity needs them on every job).
    assert {"av", "soundfile", "numpy", "httpx"} <= set(found["imports"])


def test_the_app_indexes_every_function_with_its_bindings(requirements_venv: Path) -> None:
    functions = run_check(requirements_venv, ROOT / "requirements.txt")["functions"]
    assert isinstance(functions, dict), f"function_app.py does not import: {functions}"
    assert {name: [_render(b) for b in bindings] for name, bindings in functions.items()} == EXPECTED_FUNCTIONS


def test_removing_a_package_from_requirements_txt_fails_the_check(tmp_path: Path) -> None:
    """The check is not vacuous: without httpx (imported at start-up through shared/jobs/webhooks.py) the venv built
    from the file lacks it, the app does not import, and the listing check names it too."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    without = "\n".join(line for line in lines if not line.startswith("httpx=")) + "\n"
    assert without.count("\n") == len(lines) - 1
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(without)
    found = run_check(deploy_venv(without, "deploy-venv-without-httpx"), requirements)
    assert "httpx" in found["missing"]
    assert "No module named 'httpx'" in found["functions"]


def test_a_direct_import_that_only_a_dependency_installs_is_named(requirements_venv: Path, tmp_path: Path) -> None:
    """requests is installed by azure-core anyway; listed or not, shared/azure/storage.py imports it directly, so an
    azure-core release that dropped it would break the app: the check names it when the line is missing."""
    requirements = tmp_path / "requirements.txt"
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    requirements.write_text("\n".join(line for line in lines if not line.startswith("requests=")) + "\n")
    found = run_check(requirements_venv, requirements)
    assert found["missing"] == {}
    assert found["unlisted"] == {"requests": "requests"}
