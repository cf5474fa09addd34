"""Azurite (the Azure Storage emulator, from npm) on free ports with its data in a temporary folder."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from devhost.processes import ManagedProcess, free_port, port_open
from shared.azure.storage import azurite_connection_string

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = ROOT / "node_modules" / ".bin" / "azurite"


class Azurite:
    """``tls=(cert, key)`` serves HTTPS with Azurite's basic OAuth on, which Get User Delegation Key requires."""

    def __init__(self, workdir: Path | None = None, tls: tuple[Path, Path] | None = None) -> None:
        if not AZURITE_BIN.exists():
            raise RuntimeError(f"{AZURITE_BIN} is missing: run scripts/bootstrap (it runs 'npm ci')")
        self._own_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="azurite-"))
        self.blob_port, self.queue_port, self.table_port = free_port(), free_port(), free_port()
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        argv = [
            str(AZURITE_BIN),
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableProductStyleUrl",
            # Its usage telemetry keeps node running after a SIGTERM has closed every service (it never exited here
            # on its own: each stop waited for the SIGKILL); without it Azurite exits in ~20 ms.
            "--disableTelemetry",
            "--location",
            str(data),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(self.blob_port),
            "--queueHost",
            "127.0.0.1",
            "--queuePort",
            str(self.queue_port),
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(self.table_port),
        ]
        if tls:
            argv += ["--oauth", "basic", "--cert", str(tls[0]), "--key", str(tls[1])]
        self.scheme = "https" if tls else "http"
        self.process = ManagedProcess("azurite", argv, self.workdir / "azurite.log")

    @property
    def connection_string(self) -> str:
        return azurite_connection_string(self.blob_port, self.queue_port, self.table_port, scheme=self.scheme)

    @property
    def blob_endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.blob_port}/devstoreaccount1"

    def start(self) -> Azurite:
        self.process.start()
        self.process.wait_ready(
            lambda: all(port_open(p) for p in (self.blob_port, self.queue_port, self.table_port)),
            timeout_s=60,
        )
        return self

    def stop(self) -> None:
        # A clean exit saves its metadata (scripts/transcribe resumes from a kept folder); SIGKILL after 2 s.
        self.process.stop(grace_s=2.0)
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
