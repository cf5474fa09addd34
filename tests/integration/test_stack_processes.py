"""The stack's processes are waited for and stopped together (``devhost.processes``), with real child processes.

Stopping: SIGTERM to all, then one wait, so three processes that each take 0.6 s to exit stop in about 0.6 s,
not 1.8 s; one that ignores SIGTERM is killed at the deadline. Waiting: each process with its own check and
timeout, and a process that exits while the others load fails the wait at once, with its log.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devhost.processes import ManagedProcess, stop_all, wait_all_ready

SLOW_EXIT = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (time.sleep(1.0), sys.exit(0)))
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""
DEAF = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"


def _started(tmp_path: Path, name: str, code: str) -> ManagedProcess:
    process = ManagedProcess(name, [sys.executable, "-c", code], tmp_path / f"{name}.log")
    process.start()
    return process


def _says_ready(process: ManagedProcess) -> tuple[ManagedProcess, Callable[[], bool], float]:
    return process, lambda: "ready" in process.log_tail(5), 30.0


def test_processes_stop_in_parallel(tmp_path: Path) -> None:
    processes = [_started(tmp_path, f"p{n}", SLOW_EXIT) for n in range(3)]
    wait_all_ready([_says_ready(p) for p in processes])
    assert all(p.ready_at is not None for p in processes)
    started = time.monotonic()
    stop_all(processes)
    took = time.monotonic() - started
    # 1 s each: in parallel about 1 s, one after another 3 s; 2.5 leaves a slow machine 1.5 s of scheduling
    assert 0.9 < took < 2.5, took
    assert all(p.proc is not None and p.proc.returncode == 0 for p in processes)  # each exited on its own


def test_a_process_that_ignores_sigterm_is_killed_at_the_deadline(tmp_path: Path) -> None:
    deaf, slow = _started(tmp_path, "deaf", DEAF), _started(tmp_path, "slow", SLOW_EXIT)
    wait_all_ready([_says_ready(deaf), _says_ready(slow)])
    started = time.monotonic()
    stop_all([deaf, slow], grace_s=2.0)  # slow needs 1 s of it; deaf is killed at 2 s
    assert time.monotonic() - started < 3.5
    assert deaf.proc is not None and deaf.proc.returncode == -9
    assert slow.proc is not None and slow.proc.returncode == 0


def test_a_process_exiting_while_others_load_fails_the_wait_at_once(tmp_path: Path) -> None:
    loading = _started(tmp_path, "loading", "import time; time.sleep(30)")
    broken = _started(tmp_path, "broken", "import sys; print('no model here'); sys.exit(3)")
    started = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match="broken exited with 3") as failed:
            wait_all_ready([_says_ready(loading), _says_ready(broken)])
        assert "no model here" in str(failed.value)
        assert time.monotonic() - started < 10
    finally:
        stop_all([loading, broken])
