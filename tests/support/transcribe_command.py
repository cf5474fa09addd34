"""Run ``scripts/transcribe`` as a user does, and see what it leaves behind.

:func:`sandbox_script` is the real ``scripts/transcribe`` (copied byte for byte) in a tree whose every other part
links to this repository, except ``scripts/bootstrap``, which does nothing: the test machine is set up already,
and the real one may reach for apt or npm. So the script's own lines (its traps, the caller's folder it passes on,
its ``cd`` and ``exec``) run as they do for a user. :class:`Command` starts it in its own process group, as a
terminal does, so that a signal can go to the whole group as Ctrl-C does; :func:`leftovers` finds any process
still carrying the run's marker (the stack's processes inherit the command's environment).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support.speed import scaled

ROOT = Path(__file__).resolve().parents[2]
LINKED = (".venv", "node_modules", "client", "devhost", "functions", "shared", "worker", "function_app.py", "host.json")


def sandbox_script(folder: Path) -> Path:
    """``<folder>/repo/scripts/transcribe``: the real script, with a bootstrap that does nothing."""
    repo = folder / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "transcribe", repo / "scripts" / "transcribe")
    bootstrap = repo / "scripts" / "bootstrap"
    bootstrap.write_text("#!/usr/bin/env bash\nexit 0\n")
    bootstrap.chmod(0o755)
    for name in LINKED:
        if (ROOT / name).exists():
            (repo / name).symlink_to(ROOT / name)
    return repo / "scripts" / "transcribe"


def command_env(runs: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without the project's settings, with the runs (and state file) in ``runs``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSCRIBE_", "DEVHOST_"))}
    return {**env, "TRANSCRIBE_RUNS_DIR": str(runs), **extra}


class Command:
    """One command in its own process group, its stderr read as it comes."""

    def __init__(self, argv: list[str], runs: Path, cwd: Path = ROOT, **extra: str) -> None:
        self.runs = runs
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=command_env(runs, **extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.out = ""
        self._readers = [
            threading.Thread(target=self._read_err, daemon=True),
            threading.Thread(target=self._read_out, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @classmethod
    def module(cls, args: list[str], runs: Path, cwd: Path = ROOT, **extra: str) -> Command:
        """What ``scripts/transcribe`` execs, without the script."""
        return cls([sys.executable, "-m", "devhost.transcribe_command", *args], runs, cwd, **extra)

    def _read_err(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def _read_out(self) -> None:
        assert self.process.stdout is not None
        self.out = self.process.stdout.read()

    @property
    def err(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout_s: float) -> None:
        timeout_s = scaled(timeout_s)  # tests/support/speed.py: this machine's pace
        deadline = time.monotonic() + timeout_s
        while text not in self.err:
            assert self.process.poll() is None, f"exited {self.process.returncode} before {text!r}:\n{self.err}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout_s} s:\n{self.err}"
            time.sleep(0.1)

    def wait_catching(self, signum: int, timeout_s: float = 30.0) -> None:
        """Until the command's own process catches ``signum`` (the script has set its trap): a signal before that
        reaches a process that is not yet the command (forked, not yet the script), which nothing can answer for."""
        timeout_s = scaled(timeout_s)  # tests/support/speed.py: this machine's pace
        deadline = time.monotonic() + timeout_s
        while not _catches(self.process.pid, signum):
            assert self.process.poll() is None, f"exited {self.process.returncode}:\n{self.err}"
            assert time.monotonic() < deadline, f"{self.process.pid} never caught signal {signum}"
            time.sleep(0.005)

    def signal_group(self, signum: int) -> None:
        """As a terminal sends Ctrl-C: to every process of the command's group."""
        os.killpg(self.process.pid, signum)

    def finish(self, timeout_s: float) -> int:
        """Its exit status; killed (the whole group) if it has not exited within ``timeout_s`` (scaled)."""
        try:
            code = self.process.wait(timeout=scaled(timeout_s))
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        for reader in self._readers:
            reader.join(timeout=10)
        return code

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def long_recording(folder: Path) -> Path:
    """long.flac ten times over (12 minutes): on any CPU its job is still running seconds after it starts."""
    import numpy as np
    import soundfile as sf

    audio, rate = sf.read(ROOT / "tests" / "data" / "long.flac", dtype="int16")
    path = folder / "twelve-minutes.wav"
    sf.write(path, np.tile(audio, 10), rate, subtype="PCM_16")
    return path


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _catches(pid: int, signum: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next((line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), "0")
    return bool(int(caught, 16) >> (signum - 1) & 1)


def leftovers(runs: Path) -> list[int]:
    """Processes (other than this one) whose environment names ``runs``: what a command started and left running."""
    marker = f"TRANSCRIBE_RUNS_DIR={runs}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def kill_leftovers(runs: Path) -> list[int]:
    """SIGKILL what :func:`leftovers` finds (a test's cleanup); returns their pids."""
    found = leftovers(runs)
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return found
