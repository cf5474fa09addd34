"""``scripts/transcribe`` on the stack ``scripts/up`` keeps warm: the state file, and when it is used or not.

The state file's life (mode 0600, removed only by the stack that wrote it), health (a process gone, a host that
does not answer), how a run's settings are matched against the stack's, and what ``transcribe`` does with each
case, new runs and resumed ones, with the stack, the API and the upload replaced by stand-ins that record calls.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from devhost import transcribe_local
from devhost.stack import STATE_FILE, StackState, pid_alive
from devhost.transcribe_local import Run, conflicts, transcribe
from tests.support.machine import pretend_machine

KEY = "the-function-key-never-printed"


@pytest.fixture(autouse=True)
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """2 cores, 24 GiB, no GPU; runs (and the state file) in a temporary folder."""
    pretend_machine(monkeypatch, tmp_path)


def state(**settings: Any) -> StackState:
    defaults = {
        "model": "tiny.en",
        "window": 600.0,
        "min_window": 30.0,
        "overlap": 2.0,
        "workers": 2,
        "threads": 1,
        "batch_size": 8,
        "gpus": 0,
        "telemetry_dir": None,
    }
    return StackState(
        id="up-1",
        pid=1,
        base_url="http://127.0.0.1:7071",
        function_key=KEY,
        pids={"devhost": 2},
        settings={**defaults, **settings},
        layout="2 worker(s) x 1 thread(s), batch 8",
    )


def new_run(tmp_path: Path, *flags: str) -> tuple[Run, frozenset[str]]:
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF")
    args = transcribe_local.parse_args([str(audio), *flags])
    given = frozenset(p for p in transcribe_local.LAYOUT_PARTS if getattr(args, p) is not None)
    return Run.new(args), given


# The state file.


def test_the_state_file_is_private_and_removed_only_by_its_own_stack(tmp_path: Path) -> None:
    path = tmp_path / "runs" / STATE_FILE
    mine = state()
    mine.write(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert StackState.read(path) == mine
    StackState(**{**dataclasses.asdict(mine), "id": "another"}).remove(path)  # a later scripts/up wrote it: not ours
    assert path.exists()
    mine.remove(path)
    assert not path.exists() and StackState.read(path) is None
    path.write_text("{not json")
    assert StackState.read(path) is None  # a garbled file is no stack
    for garbled in ({"pids": []}, {"pid": "1"}, {"base_url": 7071}, {"pids": {"devhost": None}}):
        path.write_text(json.dumps({**dataclasses.asdict(mine), **garbled}))
        assert StackState.read(path) is None, garbled  # nor is one with fields of the wrong types


def test_a_stack_is_healthy_only_with_every_process_alive_and_the_host_answering() -> None:
    import os

    alive = dataclasses.replace(state(), pid=os.getpid(), pids={"devhost": os.getpid()})
    ours = lambda pid, port: pid == os.getpid() and port == 7071  # noqa: E731  # its devhost holds its port
    assert alive.problem(ping=lambda url: url == "http://127.0.0.1:7071/admin/host/ping", holds=ours) is None
    assert alive.problem(ping=lambda url: False, holds=ours) == "its host does not answer on http://127.0.0.1:7071"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = dataclasses.replace(alive, pids={"devhost": os.getpid(), "worker-1": gone.pid})
    assert dead.problem(ping=lambda url: True, holds=ours) == f"its worker-1 (pid {gone.pid}) is gone"


# Whose port it is (issue 22, item 5): a 200 from the state's address proves nothing; its devhost must hold the port.


def test_the_key_goes_only_to_the_devhost_holding_the_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    from tests.support.impostor import impostor

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with impostor(tmp_path) as stranger:
            # a scripts/up and a devhost that are alive, but another process answers on the state's port
            stale = dataclasses.replace(
                state(), pid=os.getpid(), pids={"devhost": sleeper.pid}, base_url=f"http://127.0.0.1:{stranger.port}"
            )
            problem = (
                f"port {stranger.port} is not held by its devhost (pid {sleeper.pid}): another process answers there"
            )
            assert stale.problem() == problem
            stale.write(transcribe_local.RUNS / STATE_FILE)
            run, given = new_run(tmp_path)
            assert transcribe_local.warm_stack(run, given, transcribe_local.RUNS / STATE_FILE) is None
            assert f"Not using the stack from scripts/up ({transcribe_local.RUNS / STATE_FILE}): {problem}." in (
                capsys.readouterr().err
            )
            assert not any(KEY in line for line in stranger.requests)  # it was never sent the key
            # the same server as the stack's own devhost: the stack is used
            own = dataclasses.replace(stale, pids={"devhost": stranger.pid})
            assert own.problem() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_who_holds_a_port() -> None:
    import os

    from devhost.port_owner import holds_port

    listener = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen();"
            "print(s.getsockname()[1], flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert listener.stdout is not None
        port = int(listener.stdout.readline())
        assert holds_port(listener.pid, port) is True
        assert holds_port(os.getpid(), port) is False
        assert holds_port(listener.pid, port + 1 if port < 65535 else port - 1) is False
        assert holds_port(listener.pid, port, proc=Path("/nonexistent")) is None  # cannot tell: not trusted
    finally:
        listener.kill()
        listener.wait()


def test_a_zombie_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not pid_alive(child.pid)  # exited, not yet reaped by its parent
    child.wait()
    assert not pid_alive(child.pid)


# Matching a run's settings.


def test_a_run_with_the_defaults_fits_the_default_stack(tmp_path: Path) -> None:
    run, given = new_run(tmp_path)
    assert conflicts(state(), run, given) == []
    assert conflicts(state(workers=4, threads=2, batch_size=16), run, given) == []  # a layout not asked for: any


def test_model_window_and_an_asked_for_layout_must_match(tmp_path: Path) -> None:
    run, given = new_run(tmp_path, "--window", "20")
    assert conflicts(state(), run, given) == [
        "window 600.0 s (this run: 20 s)",
        "min window 30.0 s (this run: 20 s)",  # the overlap (2 s) still fits a 20 s window
    ]
    run, given = new_run(tmp_path, "--model", "/models/large")
    assert conflicts(state(), run, given) == ["model tiny.en (this run: /models/large)"]
    run, given = new_run(tmp_path, "--workers", "1")
    assert conflicts(state(), run, given) == ["workers 2 (this run: --workers 1)"]
    assert conflicts(state(workers=1, threads=2), run, given) == []
    run, given = new_run(tmp_path, "--batch-size", "1")
    assert conflicts(state(), run, given) == ["batch size 8 (this run: --batch-size 1)"]


def test_a_stack_without_workers_or_spans_for_timings_does_not_fit(tmp_path: Path) -> None:
    run, given = new_run(tmp_path)
    assert conflicts(state(workers=0), run, given) == ["no workers (DEVHOST_WORKERS=0)"]
    run, given = new_run(tmp_path, "--timings")
    assert conflicts(state(), run, given) == [
        "without spans for --timings (start it with TRANSCRIBE_TELEMETRY_DIR set)"
    ]
    assert conflicts(state(telemetry_dir=str(tmp_path)), run, given) == []


# What transcribe does in each case.


class OwnStack:
    made: ClassVar[list[dict[str, Any]]] = []
    base_url, function_key = "http://own", "own-key"

    def __init__(self, **kwargs: Any) -> None:
        OwnStack.made.append(kwargs)
        started = SimpleNamespace(ready_at=None)
        self.azurite, self.devhost = SimpleNamespace(process=started), started
        self.workers: list[Any] = []

    def wait_workers(self) -> None:
        pass

    def gone(self) -> str | None:
        return None

    def start(self) -> OwnStack:
        return self

    def stop(self) -> None:
        pass


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """The stack, the API and the client replaced: records which stack each call went to."""
    seen: dict[str, list[Any]] = {"api": [], "upload": []}
    OwnStack.made = []
    monkeypatch.setattr(transcribe_local, "LocalStack", OwnStack)

    class Api:
        def __init__(self, base_url: str, key: str) -> None:
            seen["api"].append(base_url)

        def close(self) -> None:
            pass

    def upload(api: Any, path: Path, *, resume_job_id: str | None, on_session: Any, **_: Any) -> None:
        seen["upload"].append(resume_job_id)
        on_session({"job_id": resume_job_id or "job-new"})

    monkeypatch.setattr(transcribe_local, "TranscriptionApi", Api)
    monkeypatch.setattr(transcribe_local, "upload_file", upload)
    monkeypatch.setattr(transcribe_local, "follow_job", lambda *a, **k: {"result": {}})
    monkeypatch.setattr(transcribe_local, "download", lambda *a: {})
    return seen


def up(monkeypatch: pytest.MonkeyPatch, running: StackState | None, healthy: bool = True) -> None:
    if running is not None:
        running.write(transcribe_local.RUNS / STATE_FILE)
    monkeypatch.setattr(StackState, "problem", lambda self, ping=None: None if healthy else "its host is gone")
    monkeypatch.setattr(StackState, "gone", lambda self: None)  # its processes: stand-ins, "running"


def test_a_new_run_uses_a_fitting_stack_from_scripts_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: dict[str, list[Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    up(monkeypatch, state())
    run, given = new_run(tmp_path)
    transcribe(run, 60, given)
    assert OwnStack.made == [] and calls["api"] == ["http://127.0.0.1:7071"]
    err = capsys.readouterr().err
    assert "Reusing the stack from scripts/up at http://127.0.0.1:7071" in err and KEY not in err
    assert Run.load(run.folder).stack_id == "up-1"  # a resume goes back to it


def test_a_conflicting_or_unhealthy_stack_is_named_and_the_run_starts_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: dict[str, list[Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    up(monkeypatch, state())
    run, given = new_run(tmp_path, "--window", "20")
    transcribe(run, 60, given)
    assert len(OwnStack.made) == 1 and calls["api"] == ["http://own"]
    lines = [line for line in capsys.readouterr().err.splitlines() if "scripts/up" in line]
    assert lines == [
        "Not using the stack from scripts/up: it runs window 600.0 s (this run: 20 s); min window 30.0 s "
        "(this run: 20 s)."
    ]
    up(monkeypatch, state(), healthy=False)
    run, given = new_run(tmp_path)
    transcribe(run, 60, given)
    assert len(OwnStack.made) == 2
    assert "Not using the stack from scripts/up" in capsys.readouterr().err


def test_no_state_file_no_word_about_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: dict[str, list[Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    up(monkeypatch, None)
    run, given = new_run(tmp_path)
    transcribe(run, 60, given)
    assert len(OwnStack.made) == 1 and "scripts/up" not in capsys.readouterr().err


def test_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: dict[str, list[Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    up(monkeypatch, state())
    # a job on the run's own stack continues there, on its saved state, even with a warm stack around
    run, _ = new_run(tmp_path)
    run.job_id = "job-own"
    transcribe(run, 60)
    assert len(OwnStack.made) == 1 and OwnStack.made[0]["workdir"] == run.folder / "stack"
    assert calls["upload"] == ["job-own"]
    # a job on scripts/up's stack continues on it while it runs
    run.stack_id, run.job_id = "up-1", "job-warm"
    transcribe(run, 60)
    assert len(OwnStack.made) == 1 and calls["upload"][-1] == "job-warm" and calls["api"][-1] == "http://127.0.0.1:7071"
    # that stack is gone (another scripts/up since): the job is gone with its storage; it starts again
    run.stack_id, run.job_id = "up-0", "job-lost"
    transcribe(run, 60)
    assert calls["upload"][-1] is None and run.job_id == "job-new" and run.stack_id == "up-1"
    assert "The stack from scripts/up that held job job-lost is gone" in capsys.readouterr().err
