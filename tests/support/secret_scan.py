"""No secret in logs or error bodies, checked over the whole test suite.

A pytest plugin (registered by tests/conftest.py): when any :class:`~devhost.stack.LocalStack` stops, the logs it
leaves (the devhost's, the workers', Azurite's, telemetry files) are read for that stack's own secrets (function,
master and Durable system keys, the storage account key) and for anything shaped like a secret whoever made it
(a SAS ``sig=``, a webhook secret ``whsec_``, an ``AccountKey=``, a bare account key, a JWT). Every
``application/problem+json`` body a test receives through httpx is read the same way, with the key the request
itself presented. Findings fail the session (exit status 1) and are listed by name, file and line, never by value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.stack import LocalStack

# Shapes that are a secret wherever they appear. A SAS signature is 32 bytes in base64 (44 characters, URL-encoded
# longer); a webhook secret ``whsec_`` + 32 bytes; an account key 64 bytes (88 characters ending ``==``).
SHAPES = {
    "SAS signature": re.compile(r"(?<![A-Za-z0-9_])sig(?:=|%3[Dd])(?:[A-Za-z0-9+/=]|%[0-9A-Fa-f]{2}){20,}"),
    "webhook secret": re.compile(r"whsec_[A-Za-z0-9+/=]{20,}"),
    "AccountKey=": re.compile(r"AccountKey=[A-Za-z0-9+/=]{20,}", re.IGNORECASE),
    "account key": re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}=="),
    "JWT": re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
}
LOG_SUFFIXES = (".log", ".jsonl", ".txt")


@dataclass(frozen=True)
class Finding:
    what: str  # the secret's name, never its value
    where: str  # file:line, or the request

    def __str__(self) -> str:
        return f"{self.what} in {self.where}"


def stack_secrets(stack: LocalStack) -> dict[str, str]:
    """The secrets a stack was started with, by name."""
    secrets = {
        "function key": stack.function_key,
        "master key": stack.master_key,
        "durable system key": stack.durable_key,
    }
    for conn in (stack.connection_string, getattr(stack, "storage_connection_string", None) or ""):
        for part in conn.split(";"):
            name, _, value = part.partition("=")
            if name.strip().lower() == "accountkey" and value:
                secrets["storage account key"] = value
    return secrets


def scan_text(text: str, secrets: dict[str, str], where: str) -> Iterator[Finding]:
    """Each known secret (raw or URL-encoded) and each secret shape found in ``text``, line by line."""
    from urllib.parse import quote

    for number, line in enumerate(text.splitlines(), 1):
        for name, value in secrets.items():
            if value and (value in line or quote(value, safe="") in line):
                yield Finding(name, f"{where}:{number}")
        for name, shape in SHAPES.items():
            if shape.search(line):
                yield Finding(name, f"{where}:{number}")


def log_files(stack: LocalStack) -> Iterable[Path]:
    """What a stack leaves to read: its logs and telemetry files (not Azurite's data, where SAS-free records and
    webhook secrets are meant to be)."""
    folders = [stack.workdir]
    telemetry = stack.extra_env.get("TRANSCRIBE_TELEMETRY_DIR")
    if telemetry:
        folders.append(Path(telemetry))
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix in LOG_SUFFIXES and "azurite/data" not in path.as_posix():
                yield path


def scan_stack(stack: LocalStack) -> list[Finding]:
    secrets = stack_secrets(stack)
    found: list[Finding] = []
    for path in log_files(stack):
        text = path.read_text(errors="replace")
        found += scan_text(text, secrets, str(path.relative_to(path.parent.parent)))
    return found


class SecretScan:
    """The plugin: collects findings from every stop of a stack and every problem body; fails the session on any."""

    def __init__(self) -> None:
        self.findings: list[Finding | str] = []  # str: a pytest-xdist worker's finding, as it reported it
        self.stacks_scanned = 0
        self.bodies_scanned = 0
        self._live: dict[int, dict[str, str]] = {}
        self._send: Any = None

    def started(self, stack: LocalStack) -> None:
        self._live[id(stack)] = stack_secrets(stack)

    def stopped(self, stack: LocalStack) -> None:
        self._live.pop(id(stack), None)
        self.stacks_scanned += 1
        self.findings += scan_stack(stack)

    def check_response(self, request: httpx.Request, response: httpx.Response) -> None:
        if not response.headers.get("content-type", "").startswith("application/problem+json"):
            return
        self.bodies_scanned += 1
        secrets = {f"{name} (a running stack's)": v for live in self._live.values() for name, v in live.items()}
        presented = request.headers.get("x-functions-key") or request.url.params.get("code")
        if presented:
            secrets["the key the request presented"] = presented
        where = f"the problem body of {request.method} {request.url.path}"
        self.findings += scan_text(response.read().decode(errors="replace"), secrets, where)

    @pytest.hookimpl
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        LocalStack.on_start.append(self.started)
        LocalStack.on_stop.append(self.stopped)
        self._send = httpx.Client.send
        scan, send = self, httpx.Client.send

        def send_and_scan(client: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
            response: httpx.Response = send(client, request, **kwargs)
            if not kwargs.get("stream"):
                scan.check_response(request, response)
            return response

        httpx.Client.send = send_and_scan  # type: ignore[method-assign]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        httpx.Client.send = self._send  # type: ignore[method-assign]
        LocalStack.on_start.remove(self.started)
        LocalStack.on_stop.remove(self.stopped)
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:  # a pytest-xdist worker: the controller judges (pytest_testnodedown)
            workeroutput["secret_scan"] = {
                "findings": [str(f) for f in self.findings],
                "stacks": self.stacks_scanned,
                "bodies": self.bodies_scanned,
            }
        if self.findings and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Under pytest-xdist each worker scans its own stacks; a worker's exit status does not reach the run's, so
        its findings come back here (xdist's ``workeroutput``) and fail the session in the controller."""
        scanned = getattr(node, "workeroutput", {}).get("secret_scan")
        if scanned:
            self.findings += scanned["findings"]
            self.stacks_scanned += scanned["stacks"]
            self.bodies_scanned += scanned["bodies"]

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        counted = f"{self.stacks_scanned} stack(s) and {self.bodies_scanned} problem bodies scanned"
        if not self.findings:
            terminalreporter.write_line(f"secret scan: clean ({counted})")
            return
        terminalreporter.section("secret scan: SECRETS LEAKED", red=True)
        for finding in dict.fromkeys(self.findings):
            terminalreporter.write_line(f"  {finding}", red=True)
        terminalreporter.write_line(f"({counted}; tests/support/secret_scan.py)")
