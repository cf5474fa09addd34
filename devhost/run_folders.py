"""A run's folder (``.transcribe/<run>/``): unique, owned by the one process using it, and its ``run.json`` checked.

Folders used to be named ``<second>-<name>``: two runs of files with the same name started in the same second
shared one, and the first to finish deleted the other's running stack with it. Now each run gets a folder no other
can get (``mkdtemp``), and holds an exclusive lock on it while it runs, so a ``--resume`` or ``--cancel`` of a folder
still in use is refused instead of starting a second stack on the same state. A ``run.json`` that is not what a run
wrote (damaged, edited, cut short) is refused with one clear line, never a traceback.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

LOCK_FILE = ".lock"
RUN_FILE = "run.json"


class RunFolderError(Exception):
    """The folder cannot be used for this run; the message says why, for the user."""


def new_folder(runs: Path, label: str) -> Path:
    """A fresh folder under ``runs``, named for the time and ``label`` (an ASCII slug), that no other run can get."""
    runs.mkdir(parents=True, exist_ok=True)
    prefix = f"{time.strftime('%Y%m%d-%H%M%S')}-{label[:60]}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=runs))


class RunLock:
    """An exclusive ``flock`` on ``<folder>/.lock`` for as long as this process runs the folder's job.

    The kernel drops it when the process dies, however it dies, so a crashed run's folder can be resumed at once.
    The descriptor is not inherited by the stack's processes (Python opens files non-inheritable).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunFolderError(
                f"{self.folder} is in use by another scripts/transcribe (pid {holder}); stop that one first"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# run.json's fields and the types each may hold (bool is not an int here, though Python says it is).
_FIELDS: dict[str, tuple[type, ...]] = {
    "audio": (str,),
    "out": (str,),
    "language": (str, type(None)),
    "workers": (int,),
    "model": (str,),
    "window": (int, float),
    "timings": (bool,),
    "job_id": (str, type(None)),
    "threads": (int, type(None)),
    "batch_size": (int, type(None)),
    "gpus": (int,),
    "layout": (str,),
    "stack_id": (str, type(None)),
    "language_candidates": (list, type(None)),
    "task": (str,),
}
_REQUIRED = ("audio", "out", "language", "workers", "model", "window", "timings")


def read_run_file(folder: Path) -> dict[str, Any]:
    """``run.json``'s fields, checked; :class:`RunFolderError` if it is missing or is not what a run writes."""
    path = folder / RUN_FILE
    if not path.is_file():
        raise RunFolderError(f"{folder} is not the folder of an interrupted run (no {RUN_FILE})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunFolderError(_damaged(path, str(exc))) from None
    problem = _problem(data)
    if problem:
        raise RunFolderError(_damaged(path, problem))
    return {key: value for key, value in data.items() if key in _FIELDS}


def write_run_file(folder: Path, data: dict[str, Any]) -> None:
    """Replace ``run.json`` whole (a temporary file, then a rename): a run stopped mid-write leaves the old one."""
    partial = folder / f".{RUN_FILE}.{os.getpid()}"
    partial.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(partial, folder / RUN_FILE)


def _damaged(path: Path, why: str) -> str:
    return f"{path} is damaged ({why}): the run can be neither resumed nor canceled; delete {path.parent} to drop it"


def _problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "not a JSON object"
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        return f"missing {', '.join(missing)}"
    for key, types in _FIELDS.items():
        if key not in data:
            continue
        value = data[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            return f"{key} is {type(value).__name__}"
    if data["workers"] < 1 or not data["window"] > 0 or not data["audio"] or not data["out"]:
        return "workers, window, audio or out out of range"
    return None
