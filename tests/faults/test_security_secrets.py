"""The suite-wide secret scan (tests/support/secret_scan.py) finds what it is there to find.

The scan itself runs over every stack of the session and every problem body; these tests show that a secret
logged on purpose, or echoed in a problem body, is reported, and that the redacted forms the service writes are
not, so a clean scan means something. Findings made here on purpose are taken back out, to keep the session green.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from devhost.stack import LocalStack
from shared.azure.sas import BlobSigner, read_permission
from shared.azure.storage import DEV_ACCOUNT_KEY, azurite_connection_string
from shared.jobs.webhooks import new_secret
from shared.telemetry.logs import redact
from tests.support.secret_scan import SecretScan, scan_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def plugin(request: pytest.FixtureRequest) -> Iterator[SecretScan]:
    scan = request.config.pluginmanager.get_plugin("secret-scan")
    assert isinstance(scan, SecretScan), "tests/conftest.py registers the scan for every session"
    before = list(scan.findings)
    yield scan
    scan.findings[:] = before  # what this test caused on purpose is not a leak of the suite


def a_sas_url() -> str:
    service = BlobServiceClient.from_connection_string(azurite_connection_string())
    expiry = datetime.now(UTC) + timedelta(minutes=5)
    return BlobSigner(service, DEV_ACCOUNT_KEY).blob_url("results", "job/transcript.json", read_permission(), expiry)


def test_a_secret_a_stack_logs_is_found_when_it_stops(plugin: SecretScan) -> None:
    with LocalStack() as stack:
        leaks = {
            "function key": f"GET /api/jobs?code={stack.function_key}",
            "durable system key": f"calling /runtime/webhooks/durabletask/instances?code={stack.durable_key}",
            "SAS signature": f"read link {a_sas_url()}",
            "webhook secret": f"job x callback secret {new_secret()}",
        }
        with (stack.workdir / "devhost.log").open("a") as log:
            log.writelines(f"{line}\n" for line in leaks.values())
        found_before = len(plugin.findings)
    found = {f.what for f in plugin.findings[found_before:]}
    assert set(leaks) <= found, found
    assert all("devhost.log" in f.where for f in plugin.findings[found_before:])


def test_the_redacted_forms_are_clean() -> None:
    """What shared/telemetry/logs.py writes in place of each secret passes the scan: the scan and the redaction
    agree."""
    key = "k" * 32
    lines = [
        f"GET /api/jobs?code={key}",
        f"read link {a_sas_url()}",
        f"secret {new_secret()}",
        f"Storage={azurite_connection_string()}",
        "Authorization: Bearer eyJhbGciOiJub25lIn0.eyJvaWQiOiJhYmMifQ.c2lnbmF0dXJl",
    ]
    secrets = {"function key": key}
    assert {f.what for f in scan_text("\n".join(lines), secrets, "raw")} >= {
        "function key",
        "SAS signature",
        "webhook secret",
        "AccountKey=",
        "JWT",
    }
    from shared.telemetry.logs import register_secret

    register_secret(key)  # the devhost registers its keys the same way
    assert list(scan_text("\n".join(redact(line) for line in lines), secrets, "redacted")) == []


def test_a_problem_body_that_echoes_a_key_is_found(plugin: SecretScan) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        body = {"code": "validation_error", "detail": f"bad key {request.headers['x-functions-key']}"}
        return httpx.Response(400, json=body, headers={"content-type": "application/problem+json"})

    found_before = len(plugin.findings)
    with httpx.Client(transport=httpx.MockTransport(echo)) as client:
        client.get("http://service.invalid/api/jobs", headers={"x-functions-key": "a-key-of-the-caller"})
    assert [f.what for f in plugin.findings[found_before:]] == ["the key the request presented"]


CONFTEST = """
from tests.support.secret_scan import SecretScan


def pytest_configure(config):
    config.pluginmanager.register(SecretScan(), "secret-scan")
"""
LEAKING = """
def test_leaks(request):
    request.config.pluginmanager.get_plugin("secret-scan").findings.append("function key in devhost.log:1")


def test_clean():
    pass
"""


@pytest.mark.parametrize("processes", [[], ["-n", "2", "--dist", "loadfile"]], ids=["one process", "xdist"])
def test_a_finding_fails_the_run_in_one_process_and_under_xdist(tmp_path: Path, processes: list[str]) -> None:
    """scripts/test runs pytest-xdist, where a worker's own exit status never reaches the run's: the finding must
    travel to the controller (``pytest_testnodedown``) and fail the session there."""
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_leak.py").write_text(LEAKING)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *processes, str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout[-2000:]
    assert "2 passed" in run.stdout and "SECRETS LEAKED" in run.stdout and "function key in devhost.log:1" in run.stdout
