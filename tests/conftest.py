"""Fixtures shared by all tests: one real local stack (Azurite + devhost) per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from devhost.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """No secret in any stack's logs or in any problem body, over the whole run: a leak fails the session."""
    from tests.support.secret_scan import SecretScan

    config.pluginmanager.register(SecretScan(), "secret-scan")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The factor the session's stack deadlines were scaled by, when a test asked for it."""
    from tests.support import speed

    if speed.slowdown.cache_info().currsize:
        terminalreporter.write_line(f"stack deadlines scaled by {speed.slowdown():.1f}x (tests/support/speed.py)")


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not depend on a developer's TRANSCRIBE_* or storage variables (nor on the worker settings an
    earlier test read from its own). ``TRANSCRIBE_TEST_*`` are the suite's own knobs (scripts/test's, speed.py's)
    and stay: deleting and restoring a variable around every test mutates ``os.environ`` while an earlier test's
    thread may be iterating it (httpx reads proxy variables when a client is made), which raised KeyError in one
    loaded run (test_honest_results)."""
    from worker.settings import get_worker_settings

    for name in list(os.environ):
        if name.startswith(("TRANSCRIBE_", "Storage", "STORAGE")) and not name.startswith("TRANSCRIBE_TEST_"):
            monkeypatch.delenv(name, raising=False)
    get_worker_settings.cache_clear()


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    with LocalStack() as running:
        yield running


@pytest.fixture
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, headers={"x-functions-key": stack.function_key}, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def blob_service(stack: LocalStack) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(stack.connection_string)


def make_file(path: Path, size: int, seed: int = 1) -> Path:
    """Incompressible, reproducible content written in slices (never the whole file in memory)."""
    import random

    rng = random.Random(seed)
    with path.open("wb") as out:
        left = size
        while left:
            n = min(left, 1 << 20)
            out.write(rng.randbytes(n))
            left -= n
    return path


@pytest.fixture
def app_storage(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[BlobServiceClient]:
    """The app's own storage settings pointed at the session's stack (for calling activities in-process)."""
    from shared.azure import storage
    from shared.config import get_settings

    monkeypatch.setenv("Storage", stack.connection_string)
    get_settings.cache_clear()
    storage.blob_service.cache_clear()
    yield BlobServiceClient.from_connection_string(stack.connection_string)
    get_settings.cache_clear()
    storage.blob_service.cache_clear()
