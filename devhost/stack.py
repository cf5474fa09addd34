"""The whole service on one machine: Azurite, the devhost serving function_app.py, and transcription workers.

Used by ``scripts/transcribe``, ``scripts/up``, the tests and the benchmarks, so they all run the same stack.
``python -m devhost.stack`` keeps it running until Ctrl-C and prints how to reach it; its workers are laid out
for the machine (``worker.layout``) unless ``DEVHOST_WORKERS``, ``DEVHOST_THREADS`` or ``DEVHOST_BATCH_SIZE`` say
otherwise (``DEVHOST_WORKERS=0``: the API only, bring your own workers). While it runs it keeps its address, key,
processes and settings in ``<runs>/stack.json`` (``.transcribe/`` or ``TRANSCRIBE_RUNS_DIR``; mode 0600), where
``scripts/transcribe`` finds it and sends its jobs to this warm stack instead of starting one, once the process
listening on its port is proven to be its devhost (``devhost.port_owner``): the file can outlive its stack.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from devhost.azurite import Azurite
from devhost.port_owner import holds_port
from devhost.processes import ManagedProcess, free_port, stop_all, wait_all_ready

if TYPE_CHECKING:
    from worker.layout import Layout

ROOT = Path(__file__).resolve().parent.parent


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310  # our loopback http URL  # nosec B310
            return int(response.status) == 200
    except OSError:
        return False


def _said_ready(worker: ManagedProcess) -> Callable[[], bool]:
    return lambda: "ready" in worker.log_tail(5)


class LocalStack:
    # Called with each stack once it is up, and when it stops (its processes gone, its folder not yet deleted): the
    # test suite scans every stack's logs for that stack's secrets there (tests/support/secret_scan.py).
    on_start: ClassVar[list[Callable[[LocalStack], None]]] = []
    on_stop: ClassVar[list[Callable[[LocalStack], None]]] = []

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
        wait_for_workers: bool = True,
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
        self.wait_for_workers = wait_for_workers  # False: start() returns before the models are loaded
        self._loading: list[ManagedProcess] = []  # workers started and not yet seen ready
        # What the devhost and the workers use to reach storage, when not Azurite directly: the fault tests put a
        # proxy in between (tests/faults/storage_proxy.py). Set before start().
        self.storage_connection_string: str | None = None

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
        storage = self.storage_connection_string or self.connection_string
        env.update(
            {
                "Storage": storage,
                "AzureWebJobsStorage": storage,
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
        """Azurite first (everything else needs it), then the devhost and every worker together.

        Returns once the devhost answers and, unless ``wait_for_workers`` is False, every worker has loaded its
        model; with False, call :meth:`wait_workers` before relying on them (work can be queued meanwhile).
        """
        try:
            self.azurite.start()
            self._spawn_devhost()
            if self.worker_count:
                self._create_worker_queue()
            for _ in range(self.worker_count):
                self._spawn_worker()
            waits = [self._devhost_wait()]
            if self.wait_for_workers:
                waits += self._worker_waits()
            wait_all_ready(waits)
            if self.wait_for_workers:
                self._loading.clear()
        except BaseException:
            self.stop()
            raise
        for hook in LocalStack.on_start:
            hook(self)
        return self

    def _create_worker_queue(self) -> None:
        """The queue the workers poll, made before they start with the devhost (which provisions the rest as it
        starts): a worker finding no queue logs an error and backs off."""
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.queue import QueueClient

        from shared.config import Settings

        default = Settings.model_fields["segment_jobs_queue"].default
        name = self.host_env().get("TRANSCRIBE_SEGMENT_JOBS_QUEUE") or default
        with (
            QueueClient.from_connection_string(self.connection_string, name) as client,
            contextlib.suppress(ResourceExistsError),
        ):
            client.create_queue()

    def wait_workers(self) -> None:
        """Wait until every worker started has loaded its model (at once: they load in parallel)."""
        try:
            wait_all_ready(self._worker_waits())
        finally:
            self._loading.clear()

    def start_devhost(self) -> None:
        """(Re)start the host on the same port and state, e.g. after :meth:`kill_devhost`."""
        self._spawn_devhost()
        wait_all_ready([self._devhost_wait()])

    def _spawn_devhost(self) -> None:
        argv = [sys.executable, "-m", "devhost", "--port", str(self.port), "--app-dir", str(self.app_dir)]
        self.devhost = ManagedProcess("devhost", argv, self.workdir / "devhost.log", env=self.host_env(), cwd=ROOT)
        self.devhost.start()

    def _devhost_wait(self) -> tuple[ManagedProcess, Callable[[], bool], float]:
        assert self.devhost is not None
        return self.devhost, lambda: _http_ok(f"{self.base_url}/admin/host/ping"), 60.0

    def _worker_waits(self) -> list[tuple[ManagedProcess, Callable[[], bool], float]]:
        return [(w, _said_ready(w), 120.0) for w in self._loading]

    def replace_worker(self, index: int) -> ManagedProcess:
        """Stop (or reap) worker ``index`` and start a fresh one in its place."""
        self.workers[index].stop()
        fresh = self.start_worker(slot=index)
        self.workers[index] = self.workers.pop()
        return fresh

    def start_worker(self, slot: int | None = None) -> ManagedProcess:
        """One ``python -m worker`` process (the GPU container job's local stand-in), model loaded before return."""
        worker = self._spawn_worker(slot)
        try:
            worker.wait_ready(_said_ready(worker), timeout_s=120)
        finally:
            self._loading.remove(worker)
        return worker

    def _spawn_worker(self, slot: int | None = None) -> ManagedProcess:
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
        self.workers.append(worker)  # from its start, so that stop() stops it even if it never gets ready
        self._loading.append(worker)
        return worker

    def pids(self) -> dict[str, int]:
        """The stack's processes by name (each leads its own process group)."""
        processes = [self.azurite.process, *([self.devhost] if self.devhost else []), *self.workers]
        return {p.name: p.pid for p in processes if p.pid is not None}

    def gone(self) -> str | None:
        """Which of the stack's own processes has exited (the job cannot go on without it), or None."""
        core = [self.azurite.process, *([self.devhost] if self.devhost else [])]
        for process in core:
            code = process.proc.poll() if process.proc is not None else None
            if code is not None:
                return f"its {process.name} exited with {code}"
        if self.workers and all(w.proc is not None and w.proc.poll() is not None for w in self.workers):
            return "all its workers exited"
        return None

    def kill_devhost(self) -> None:
        """SIGKILL the host: a crash, with no chance to clean up."""
        if self.devhost is not None:
            self.devhost.kill()

    def stop(self) -> None:
        """Stop every process and delete the stack's folder (Azurite's data can be gigabytes).

        The devhost and the workers are stopped together (SIGTERM to all, then one wait), then Azurite, which they
        may still be writing to on their way out.
        """
        stop_all([*self.workers, *([self.devhost] if self.devhost is not None else [])])
        self.azurite.stop()
        try:
            for hook in LocalStack.on_stop:
                hook(self)
        finally:
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


def runs_dir() -> Path:
    """Where ``scripts/transcribe`` keeps its runs and ``scripts/up`` its state file (``TRANSCRIBE_RUNS_DIR``)."""
    return Path(os.environ.get("TRANSCRIBE_RUNS_DIR") or ROOT / ".transcribe")


STATE_FILE = "stack.json"


def job_settings(model: str, window: float) -> dict[str, str]:
    """The stack's settings that shape a job's transcript: the model and the segment windows.

    A window under the defaults' 30 s minimum (or 4x the 2 s overlap) lowers them with it.
    """
    return {
        "TRANSCRIBE_MODEL": model,
        "TRANSCRIBE_SEGMENT_WINDOW_S": str(window),
        "TRANSCRIBE_SEGMENT_MIN_WINDOW_S": str(min(30.0, window)),
        "TRANSCRIBE_SEGMENT_OVERLAP_S": str(min(2.0, window / 4)),
    }


@dataclass
class StackState:
    """What ``scripts/up`` leaves in ``<runs>/stack.json`` while it runs, so ``scripts/transcribe`` can use its stack.

    Holds the function key: the file is created with mode 0600, and nothing prints it.
    """

    id: str  # this scripts/up's own: a run on it remembers it to resume on the same stack
    pid: int  # scripts/up itself
    base_url: str
    function_key: str
    pids: dict[str, int]  # its processes by name
    settings: dict[str, Any]  # model, window, min_window, overlap, workers, threads, batch_size, gpus, telemetry_dir
    layout: str = ""
    workdir: str = ""

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{self.id}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(self), out, indent=2)
        os.replace(partial, path)

    @classmethod
    def read(cls, path: Path) -> StackState | None:
        """The state in ``path``, or None when there is none (or it cannot be read)."""
        try:
            state = cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        return state if _well_formed(state) else None

    def remove(self, path: Path) -> None:
        """Delete ``path`` if it is still this stack's (another scripts/up may have written it since)."""
        current = StackState.read(path)
        if current is not None and current.id == self.id:
            path.unlink(missing_ok=True)

    def problem(
        self, ping: Callable[[str], bool] = _http_ok, holds: Callable[[int, int], bool | None] = holds_port
    ) -> str | None:
        """Why this stack cannot be used (a process gone, its port not its devhost's, the host not answering), or
        None when it is healthy and is what answers on its address: only then may it be sent the function key."""
        gone = self.gone()
        if gone is not None:
            return gone
        impostor = self._not_ours(holds)
        if impostor is not None:
            return impostor
        if not ping(f"{self.base_url}/admin/host/ping"):
            return f"its host does not answer on {self.base_url}"
        return None

    def gone(self) -> str | None:
        """Which of its processes is gone (cheap: no request), or None while all run."""
        for name, pid in {"scripts/up": self.pid, **self.pids}.items():
            if not pid_alive(pid):
                return f"its {name} (pid {pid}) is gone"
        return None

    def _not_ours(self, holds: Callable[[int, int], bool | None]) -> str | None:
        """Why what answers on ``base_url`` may not be this stack's devhost (it would be sent the key)."""
        address = urlsplit(self.base_url)
        try:
            port = address.port
        except ValueError:
            port = None
        devhost = self.pids.get("devhost")
        if address.hostname not in ("127.0.0.1", "localhost", "::1") or port is None or devhost is None:
            return f"its address {self.base_url} is not a devhost of its own on this machine"
        held = holds(devhost, port)
        if held is None:
            return "this machine cannot tell which process answers on its port"
        if not held:
            return f"port {port} is not held by its devhost (pid {devhost}): another process answers there"
        return None


def _well_formed(state: StackState) -> bool:
    """Each field of the right type (a garbled file is no stack, and must not raise where it is used)."""
    texts = (state.id, state.base_url, state.function_key, state.layout, state.workdir)
    ints = (state.pid, *state.pids.values()) if isinstance(state.pids, dict) else ("",)
    return (
        all(isinstance(text, str) for text in texts)
        and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in ints)
        and isinstance(state.settings, dict)
    )


def pid_alive(pid: int) -> bool:
    """A running process (not a zombie waiting to be reaped)."""
    if Path("/proc/self").is_dir():
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main() -> int:
    from worker.layout import window_for

    port = int(os.environ.get("DEVHOST_PORT", "7071"))
    requested = _env_int("DEVHOST_WORKERS")
    model = os.environ.get("TRANSCRIBE_MODEL", "tiny.en")
    layout, line = worker_layout(
        model,
        workers=requested or None,
        threads=_env_int("DEVHOST_THREADS"),
        batch_size=_env_int("DEVHOST_BATCH_SIZE"),
        names=("DEVHOST_WORKERS", "DEVHOST_THREADS", "DEVHOST_BATCH_SIZE"),
    )
    workers = 0 if requested == 0 else layout.processes  # 0: the API only, workers run elsewhere
    # The job settings scripts/transcribe compares with its own, given explicitly (the environment's win).
    window = float(os.environ.get("TRANSCRIBE_SEGMENT_WINDOW_S") or window_for(layout))
    settings = {name: os.environ.get(name) or value for name, value in job_settings(model, window).items()}
    env = {"TRANSCRIBE_EXPECTED_WORKERS": str(max(workers, 1)), **settings}
    with LocalStack(
        env=env,
        port=port,
        workers=workers,
        worker_threads=layout.threads,
        worker_batch_size=layout.batch_size,
        worker_gpus=layout.gpus,
    ) as stack:
        state = StackState(
            id=secrets.token_hex(8),
            pid=os.getpid(),
            base_url=stack.base_url,
            function_key=stack.function_key,
            pids=stack.pids(),
            settings={
                "model": settings["TRANSCRIBE_MODEL"],
                "window": float(settings["TRANSCRIBE_SEGMENT_WINDOW_S"]),
                "min_window": float(settings["TRANSCRIBE_SEGMENT_MIN_WINDOW_S"]),
                "overlap": float(settings["TRANSCRIBE_SEGMENT_OVERLAP_S"]),
                "workers": workers,
                "threads": layout.threads,
                "batch_size": layout.batch_size,
                "gpus": layout.gpus,
                "telemetry_dir": os.environ.get("TRANSCRIBE_TELEMETRY_DIR") or None,
            },
            layout=line if workers else "no workers (DEVHOST_WORKERS=0)",
            workdir=str(stack.workdir),
        )
        state_path = runs_dir() / STATE_FILE
        state.write(state_path)
        print(f"API:           {stack.base_url}/api")
        print(f"Function key:  {stack.function_key}")
        print(f"Durable API:   {stack.base_url}/runtime/webhooks/durabletask/instances?code={stack.durable_key}")
        print(f"Storage:       {stack.connection_string}")
        print(f"Workers:       {line if workers else 'none (DEVHOST_WORKERS=0)'}")
        print(f"Logs:          {stack.workdir}")
        print(f"Client:        TRANSCRIBE_API_URL={stack.base_url} TRANSCRIBE_API_KEY={stack.function_key}")
        print(f"State:         {state_path} (scripts/transcribe uses this stack while it runs)")
        print("Ctrl-C stops the stack.", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
        finally:
            state.remove(state_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
