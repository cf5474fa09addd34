"""The whole service on one machine: Azurite, the devhost serving function_app.py, and transcription workers.

Used by ``scripts/transcribe``, ``scripts/up``, the tests and the benchmarks, so they all run the same stack.
``python -m devhost.stack`` keeps it running until Ctrl-C and prints how to reach it; its workers are laid out
for the machine (``worker.layout``) unless ``DEVHOST_WORKERS``, ``DEVHOST_THREADS`` or ``DEVHOST_BATCH_SIZE`` say
otherwise (``DEVHOST_WORKERS=0``: the API only, bring your own workers).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from devhost.azurite import Azurite
from devhost.processes import ManagedProcess, free_port

if TYPE_CHECKING:
    from worker.layout import Layout

ROOT = Path(__file__).resolve().parent.parent


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback URL we built)
            return int(response.status) == 200
    except OSError:
        return False


class LocalStack:
    def __init__(
        self,
        env: dict[str, str] | None = None,
        port: int | None = None,
        app_dir: Path = ROOT,
        workers: int = 0,
        worker_threads: int = 1,
        worker_batch_size: int | None = None,
        worker_gpus: int = 0,
        worker_args: list[str] | None = None,
        worker_module: str = "worker",
        workdir: Path | None = None,
    ) -> None:
        # A given folder outlives the stack (scripts/transcribe keeps an interrupted job's state there to resume it);
        # a temporary one is deleted at stop (Azurite's data can be gigabytes).
        self.keep_workdir = workdir is not None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="transcription-stack-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.azurite = Azurite(self.workdir / "azurite")
        self.port = port or free_port()
        self.function_key = secrets.token_urlsafe(24)
        self.master_key = secrets.token_urlsafe(24)
        self.durable_key = secrets.token_urlsafe(24)  # the Durable extension's system key
        self.app_dir = app_dir
        self.extra_env = env or {}
        self.devhost: ManagedProcess | None = None
        self.worker_count, self.worker_threads = workers, worker_threads
        self.worker_batch_size = worker_batch_size  # None: the worker's own default
        self.worker_gpus = worker_gpus  # > 0: worker n sees only GPU n % worker_gpus (one process per GPU)
        self.worker_args = worker_args or []
        self.worker_module = worker_module  # tests run a stand-in that skips the model (tests/support/noop_worker.py)
        self.workers: list[ManagedProcess] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def durable_params(self) -> dict[str, str]:
        """What the public Durable API (``/runtime/webhooks/durabletask``) needs on every call, as in Azure."""
        return {"code": self.durable_key}

    @property
    def connection_string(self) -> str:
        return self.azurite.connection_string

    def host_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "Storage": self.connection_string,
                "AzureWebJobsStorage": self.connection_string,
                "DEVHOST_FUNCTION_KEY": self.function_key,
                "DEVHOST_MASTER_KEY": self.master_key,
                "DEVHOST_DURABLE_KEY": self.durable_key,
                "DEVHOST_STATE_DIR": str(self.workdir / "state"),
                "TRANSCRIBE_UPLOADS_CONTAINER": os.environ.get("TRANSCRIBE_UPLOADS_CONTAINER", "uploads"),
                "TRANSCRIBE_WEBHOOK_ALLOW_HTTP": "true",  # one machine: let a local receiver be called
                "TRANSCRIBE_WEBHOOK_ALLOW_PRIVATE": "true",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> LocalStack:
        try:
            self.azurite.start()
            self.start_devhost()
            for _ in range(self.worker_count):
                self.start_worker()
        except BaseException:
            self.stop()
            raise
        return self

    def start_devhost(self) -> None:
        """(Re)start the host on the same port and state, e.g. after :meth:`kill_devhost`."""
        argv = [sys.executable, "-m", "devhost", "--port", str(self.port), "--app-dir", str(self.app_dir)]
        self.devhost = ManagedProcess("devhost", argv, self.workdir / "devhost.log", env=self.host_env(), cwd=ROOT)
        self.devhost.start()
        self.devhost.wait_ready(lambda: _http_ok(f"{self.base_url}/admin/host/ping"), timeout_s=60)

    def replace_worker(self, index: int) -> ManagedProcess:
        """Stop (or reap) worker ``index`` and start a fresh one in its place."""
        self.workers[index].stop()
        fresh = self.start_worker(slot=index)
        self.workers[index] = self.workers.pop()
        return fresh

    def start_worker(self, slot: int | None = None) -> ManagedProcess:
        """One ``python -m worker`` process (the GPU container job's local stand-in), model loaded before return."""
        n = len(self.workers) if slot is None else slot
        argv = [
            sys.executable,
            "-m",
            self.worker_module,
            "--threads",
            str(self.worker_threads),
            "--worker-id",
            f"local-{n}",
            *(["--batch-size", str(self.worker_batch_size)] if self.worker_batch_size is not None else []),
            *self.worker_args,
        ]
        log = self.workdir / f"worker-{n}-{len(self.workers)}.log"
        env = self.host_env()
        if self.worker_gpus > 0:
            env["CUDA_VISIBLE_DEVICES"] = _gpu_for(n, self.worker_gpus, os.environ.get("CUDA_VISIBLE_DEVICES"))
        worker = ManagedProcess(f"worker-{n}", argv, log, env=env, cwd=ROOT)
        worker.start()
        worker.wait_ready(lambda: "ready" in worker.log_tail(5), timeout_s=120)
        self.workers.append(worker)
        return worker

    def kill_devhost(self) -> None:
        """SIGKILL the host: a crash, with no chance to clean up."""
        if self.devhost is not None:
            self.devhost.kill()

    def stop(self) -> None:
        """Stop every process and delete the stack's folder (Azurite's data can be gigabytes)."""
        for worker in self.workers:
            worker.stop()
        if self.devhost is not None:
            self.devhost.stop()
        self.azurite.stop()
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _gpu_for(slot: int, gpus: int, visible: str | None) -> str:
    """The one GPU worker ``slot`` may see: the slot-th of ``CUDA_VISIBLE_DEVICES`` when set, else its index."""
    ids = [part.strip() for part in visible.split(",") if part.strip()] if visible else []
    return ids[slot % len(ids)] if ids else str(slot % gpus)


def worker_layout(
    model: str, *, workers: int | None, threads: int | None, batch_size: int | None, names: tuple[str, str, str]
) -> tuple[Layout, str]:
    """The workers' layout: chosen from the machine for ``model`` (on ``TRANSCRIBE_DEVICE``, as the workers
    themselves pick their device), with each part given replacing the machine's choice; and a line saying so.

    ``names`` are what the user calls the three parts (flags or environment variables), for that line. A given
    number of workers gets threads fitted to it (cores // workers) unless threads are given too.
    """
    from worker.layout import choose, overridden

    chosen = choose(os.environ.get("TRANSCRIBE_DEVICE", "auto"), model=model, processes=workers)
    chosen, parts = overridden(chosen, processes=workers, threads=threads, batch_size=batch_size)
    by_part = dict(zip(("processes", "threads", "batch_size"), names, strict=True))
    given = f"; set by {', '.join(by_part[part] for part in parts)}" if parts else "; chosen from the machine"
    return chosen, chosen.describe() + given


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


def main() -> int:
    port = int(os.environ.get("DEVHOST_PORT", "7071"))
    requested = _env_int("DEVHOST_WORKERS")
    layout, line = worker_layout(
        os.environ.get("TRANSCRIBE_MODEL", "tiny.en"),
        workers=requested or None,
        threads=_env_int("DEVHOST_THREADS"),
        batch_size=_env_int("DEVHOST_BATCH_SIZE"),
        names=("DEVHOST_WORKERS", "DEVHOST_THREADS", "DEVHOST_BATCH_SIZE"),
    )
    workers = 0 if requested == 0 else layout.processes  # 0: the API only, workers run elsewhere
    env = {"TRANSCRIBE_EXPECTED_WORKERS": str(max(workers, 1))}
    with LocalStack(
        env=env,
        port=port,
        workers=workers,
        worker_threads=layout.threads,
        worker_batch_size=layout.batch_size,
        worker_gpus=layout.gpus,
    ) as stack:
        print(f"API:           {stack.base_url}/api")
        print(f"Function key:  {stack.function_key}")
        print(f"Durable API:   {stack.base_url}/runtime/webhooks/durabletask/instances?code={stack.durable_key}")
        print(f"Storage:       {stack.connection_string}")
        print(f"Workers:       {line if workers else 'none (DEVHOST_WORKERS=0)'}")
        print(f"Logs:          {stack.workdir}")
        print(f"Client:        TRANSCRIBE_API_URL={stack.base_url} TRANSCRIBE_API_KEY={stack.function_key}")
        print("Ctrl-C stops the stack.", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
