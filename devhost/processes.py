"""Child processes that are always cleaned up: own process group, bounded readiness waits (several at once),
SIGTERM then SIGKILL on stop (several at once: :func:`stop_all`)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO


def _die_with_parent() -> None:
    """Linux PR_SET_PDEATHSIG: if whoever started us is killed (even with SIGKILL), we get SIGKILL too."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class ManagedProcess:
    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.ready_at: float | None = None  # time.monotonic() when a wait first found it ready

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # argv is ours (python -m ..., Azurite's node), no shell  # nosec B603
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # note: tied to the starting *thread*; start stacks from long-lived threads
        )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def wait_ready(self, ready: Callable[[], bool], timeout_s: float = 60.0) -> None:
        wait_all_ready([(self, ready, timeout_s)])

    def is_ready(self, ready: Callable[[], bool]) -> bool:
        """``ready()``, after checking the process is still running (it raises if it exited)."""
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; log:\n{self.log_tail()}")
        if ready():
            self.ready_at = time.monotonic()
            return True
        return False

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL the whole group: what a crash looks like."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def terminate(self) -> None:
        """SIGTERM the whole group, without waiting (:meth:`reap` waits)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def reap(self, deadline: float) -> None:
        """Wait for the process to exit until ``deadline`` (``time.monotonic()``), then SIGKILL it."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self, grace_s: float = 5.0) -> None:
        self.terminate()
        self.reap(time.monotonic() + grace_s)


def stop_all(processes: list[ManagedProcess], grace_s: float = 5.0) -> None:
    """Stop several processes in parallel: SIGTERM to all, then wait for all within one ``grace_s``."""
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.reap(deadline)


def wait_all_ready(waits: list[tuple[ManagedProcess, Callable[[], bool], float]], poll_s: float = 0.05) -> None:
    """Wait for several processes together, each with its own readiness check and timeout (from now).

    Raises as soon as any of them exits or runs past its timeout, with its log's tail.
    """
    started = time.monotonic()
    pending = list(waits)
    while pending:
        now = time.monotonic()
        for item in list(pending):
            process, ready, timeout_s = item
            if process.is_ready(ready):
                pending.remove(item)
            elif now - started > timeout_s:
                raise TimeoutError(f"{process.name} was not ready within {timeout_s:.0f}s; log:\n{process.log_tail()}")
        if pending:
            time.sleep(poll_s)
