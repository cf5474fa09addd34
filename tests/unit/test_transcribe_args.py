"""The worker layout's wiring: scripts/transcribe's flags, scripts/up's environment, the workers' command lines.

The machine's facts are injected (2 cores, 24 GiB, no GPU) and no process is started: the stack's processes are
stand-ins that record how they would have been started.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from devhost import stack as stack_module
from devhost import transcribe_local
from devhost.stack import LocalStack, worker_layout
from worker import layout

GIB = 1024**3


@pytest.fixture(autouse=True)
def machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test machine: 2 cores, 24 GiB, no GPU; TRANSCRIBE_DEVICE unset."""
    monkeypatch.setattr(layout, "detect_cores", lambda: 2)
    monkeypatch.setattr(layout, "detect_memory_bytes", lambda: 24 * GIB)
    monkeypatch.setattr(layout, "detect_gpu_memory_bytes", lambda: [])
    monkeypatch.delenv("TRANSCRIBE_DEVICE", raising=False)


FLAGS = ("--workers", "--threads", "--batch-size")


def test_defaults_come_from_the_machine() -> None:
    chosen, line = worker_layout("tiny.en", workers=None, threads=None, batch_size=None, names=FLAGS)
    assert (chosen.processes, chosen.threads, chosen.batch_size, chosen.device) == (2, 1, 2, "cpu")
    assert line.startswith("2 worker(s) x 1 thread(s), batch 2, cpu (2 core(s), 24.0 GiB free")
    assert line.endswith("; chosen from the machine")


def test_each_flag_overrides_its_part_and_is_named() -> None:
    chosen, line = worker_layout("tiny.en", workers=None, threads=None, batch_size=1, names=FLAGS)
    assert (chosen.processes, chosen.threads, chosen.batch_size) == (2, 1, 1)
    assert line.endswith("; set by --batch-size")
    chosen, line = worker_layout("tiny.en", workers=1, threads=None, batch_size=None, names=FLAGS)
    assert (chosen.processes, chosen.threads, chosen.batch_size) == (1, 2, 2)  # threads fitted to one worker
    assert line.endswith("; set by --workers")
    chosen, line = worker_layout("tiny.en", workers=1, threads=1, batch_size=4, names=FLAGS)
    assert (chosen.processes, chosen.threads, chosen.batch_size) == (1, 1, 4)
    assert line.endswith("; set by --workers, --threads, --batch-size")


def test_transcribe_device_setting_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSCRIBE_DEVICE", "cuda")
    chosen, _ = worker_layout("tiny.en", workers=None, threads=None, batch_size=None, names=FLAGS)
    assert (chosen.device, chosen.processes, chosen.batch_size) == ("cuda", 1, 16)


def test_a_new_run_keeps_its_layout_and_an_old_one_still_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transcribe_local, "RUNS", tmp_path)
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"")
    run = transcribe_local.Run.new(transcribe_local.parse_args([str(audio), "--batch-size", "1"]))
    saved = json.loads((run.folder / "run.json").read_text())
    assert (saved["workers"], saved["threads"], saved["batch_size"], saved["gpus"]) == (2, 1, 1, 0)
    assert run.env()["TRANSCRIBE_EXPECTED_WORKERS"] == "2"
    assert "set by --batch-size" in saved["layout"]
    for key in ("threads", "batch_size", "gpus", "layout"):  # a run.json written before the layout was kept
        del saved[key]
    (run.folder / "run.json").write_text(json.dumps(saved))
    old = transcribe_local.Run.load(run.folder)
    assert (old.workers, old.threads, old.batch_size) == (2, None, None)


class FakeProcess:
    started: ClassVar[list[FakeProcess]] = []

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str], cwd: Path) -> None:
        self.name, self.argv, self.env = name, argv, env

    def start(self) -> None:
        FakeProcess.started.append(self)

    def wait_ready(self, ready: Callable[[], bool], timeout_s: float) -> None:
        pass

    def log_tail(self, lines: int) -> str:
        return "ready"

    def stop(self) -> None:
        pass


class FakeAzurite:
    connection_string = "UseDevelopmentStorage=true"

    def __init__(self, workdir: Path) -> None:
        pass

    def stop(self) -> None:
        pass


def _workers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **kwargs: Any) -> list[FakeProcess]:
    FakeProcess.started = []
    monkeypatch.setattr(stack_module, "ManagedProcess", FakeProcess)
    monkeypatch.setattr(stack_module, "Azurite", FakeAzurite)
    local = LocalStack(workdir=tmp_path, **kwargs)
    for _ in range(local.worker_count):
        local.start_worker()
    return FakeProcess.started


def test_workers_get_the_batch_size_only_when_one_is_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (plain,) = _workers(monkeypatch, tmp_path, workers=1)
    assert "--batch-size" not in plain.argv  # the worker's own default, as before
    first, second = _workers(monkeypatch, tmp_path, workers=2, worker_threads=1, worker_batch_size=8)
    for worker in (first, second):
        at = worker.argv.index("--batch-size")
        assert worker.argv[at + 1] == "8"
        assert worker.argv[worker.argv.index("--threads") + 1] == "1"
        assert worker.env.get("CUDA_VISIBLE_DEVICES") == os.environ.get("CUDA_VISIBLE_DEVICES")  # untouched on CPU


def test_one_gpu_per_worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    started = _workers(monkeypatch, tmp_path, workers=3, worker_gpus=2, worker_batch_size=64)
    assert [w.env["CUDA_VISIBLE_DEVICES"] for w in started] == ["0", "1", "0"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")  # the GPUs this machine's user allowed
    started = _workers(monkeypatch, tmp_path, workers=2, worker_gpus=2)
    assert [w.env["CUDA_VISIBLE_DEVICES"] for w in started] == ["2", "3"]


class RecordingStack:
    made: ClassVar[list[dict[str, Any]]] = []
    base_url, function_key, durable_key, connection_string, workdir = "http://x", "k", "d", "s", Path("/tmp/w")

    def __init__(self, **kwargs: Any) -> None:
        RecordingStack.made.append(kwargs)

    def pids(self) -> dict[str, int]:
        return {}

    def __enter__(self) -> RecordingStack:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class SetEvent:
    """Stands in for the wait until Ctrl-C: notes the state file scripts/up keeps meanwhile."""

    seen: ClassVar[list[tuple[int, dict[str, Any]]]] = []

    def set(self) -> None:
        pass

    def wait(self) -> None:
        path = stack_module.runs_dir() / stack_module.STATE_FILE
        SetEvent.seen.append((path.stat().st_mode & 0o777, json.loads(path.read_text())))


@pytest.mark.parametrize(
    ("env", "started", "threads", "batch", "expected", "says"),
    [
        ({}, 2, 1, 2, "2", "chosen from the machine"),
        ({"DEVHOST_BATCH_SIZE": "1"}, 2, 1, 1, "2", "set by DEVHOST_BATCH_SIZE"),
        ({"DEVHOST_WORKERS": "1"}, 1, 2, 2, "1", "set by DEVHOST_WORKERS"),
        ({"DEVHOST_WORKERS": "0"}, 0, 1, 2, "1", "none (DEVHOST_WORKERS=0)"),  # the API only, as before
    ],
)
def test_scripts_up_takes_the_layout_and_its_overrides_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    started: int,
    threads: int,
    batch: int,
    expected: str,
    says: str,
) -> None:
    for name in ("DEVHOST_WORKERS", "DEVHOST_THREADS", "DEVHOST_BATCH_SIZE", "TRANSCRIBE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TRANSCRIBE_RUNS_DIR", str(tmp_path))
    RecordingStack.made, SetEvent.seen = [], []
    monkeypatch.setattr(stack_module, "LocalStack", RecordingStack)
    monkeypatch.setattr(stack_module.threading, "Event", SetEvent)
    monkeypatch.setattr(stack_module.signal, "signal", lambda *_: None)
    assert stack_module.main() == 0
    (made,) = RecordingStack.made
    assert (made["workers"], made["worker_threads"], made["worker_batch_size"], made["worker_gpus"]) == (
        started,
        threads,
        batch,
        0,
    )
    assert made["env"]["TRANSCRIBE_EXPECTED_WORKERS"] == expected
    # the job settings scripts/transcribe compares with its own are given to the stack explicitly
    assert made["env"]["TRANSCRIBE_MODEL"] == "tiny.en" and made["env"]["TRANSCRIBE_SEGMENT_WINDOW_S"] == "600.0"
    workers_line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("Workers:"))
    assert says in workers_line
    # while it ran, its state was in <runs>/stack.json, readable by its user only; gone once it stopped
    ((mode, state),) = SetEvent.seen
    assert mode == 0o600
    assert (state["base_url"], state["function_key"], state["pid"]) == ("http://x", "k", os.getpid())
    assert state["settings"] == {
        "model": "tiny.en",
        "window": 600.0,
        "min_window": 30.0,
        "overlap": 2.0,
        "workers": started,
        "threads": threads,
        "batch_size": batch,
        "gpus": 0,
        "telemetry_dir": None,
    }
    assert not (tmp_path / stack_module.STATE_FILE).exists()


def test_the_multilingual_base_is_accepted_and_costed_by_its_weights() -> None:
    assert transcribe_local.parse_args(["talk.wav", "--model", "base"]).model == "base"
    assert transcribe_local.parse_args(["talk.wav"]).model == "tiny.en"  # the local default stays English tiny
    # base's 145 MB of weights: 2 x 145 MB + 0.4 GiB = 0.67 GiB a worker, tiny.en's measured 0.55 GiB
    assert layout.worker_memory_bytes("base") == 2 * 145_217_532 + int(0.4 * GIB)
    assert layout.worker_memory_bytes("tiny.en") == layout.TINY_RSS_BYTES
    chosen, _ = worker_layout("base", workers=None, threads=None, batch_size=None, names=FLAGS)
    assert (chosen.processes, chosen.threads, chosen.device) == (2, 1, "cpu")
