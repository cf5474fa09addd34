"""``scripts/transcribe`` survives an interruption, and uses the stack ``scripts/up`` keeps warm.

The real script in a subprocess (``python -m devhost.transcribe_command``, what it execs), as a user runs it: it is
interrupted with SIGINT once its job is transcribing, must say how to resume and print no traceback, and the resumed run
(a new stack on the same state: Azurite's data and the durable store) must finish the same job, write the
transcripts and clean its folder up. With ``python -m devhost.stack`` (``scripts/up``) running, its jobs go to
that stack, a resumed one too, and none of its own is started. On that stack (issue 22): SIGTERM mid-job ends the
command with 143 and the resume hint; the hint's ``--cancel`` really cancels the job; a file whose name holds bytes
that are not UTF-8, given by a relative path to the real ``scripts/transcribe``, is transcribed; and when
``scripts/up`` stops under a job, the command says so and ends instead of retrying for hours.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from devhost.processes import free_port
from tests.support.speed import scaled
from tests.support.transcribe_command import Command, kill_leftovers, long_recording, sandbox_script
from tests.support.wer import wer

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "tests" / "data" / "long.flac"
SPEECH = ROOT / "tests" / "data" / "speech_16k_mono.wav"


def _env(runs: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSCRIBE_", "DEVHOST_"))}
    env["TRANSCRIBE_RUNS_DIR"] = str(runs)
    return env


def _script(args: list[str], runs: Path) -> subprocess.Popen[str]:
    env = _env(runs)
    return subprocess.Popen(
        [sys.executable, "-m", "devhost.transcribe_command", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_an_interrupted_run_resumes_and_finishes(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    first = _script([str(CLIP), "--workers", "1", "--window", "20", "--out", str(out)], runs)
    try:
        deadline = time.monotonic() + scaled(180)
        while not any(json.loads(p.read_text()).get("job_id") for p in runs.glob("*/run.json")):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the run never created its job"
            time.sleep(0.2)
        time.sleep(0.5)  # early in the job (mid-upload or mid-transcription: both must resume), even on a fast CPU
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=scaled(60))
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130, err
    assert "Traceback" not in err
    (folder,) = runs.iterdir()
    assert f"resume with: scripts/transcribe --resume {folder}" in err
    job_id = json.loads((folder / "run.json").read_text())["job_id"]

    second = _script(["--resume", str(folder)], runs)
    text, err = second.communicate(timeout=scaled(300))
    assert second.returncode == 0, err
    assert "Traceback" not in err
    assert f"Job {job_id}:" in err  # the same job, finished
    assert (out / "transcript.txt").read_text() == text and len(text.split()) > 100
    assert not folder.exists()  # nothing left to resume


def test_resume_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    result = _script(["--resume", str(tmp_path)], tmp_path / "runs")
    _, err = result.communicate(timeout=scaled(60))
    assert result.returncode == 2 and "is not the folder of an interrupted run" in err and "Traceback" not in err


def test_a_stack_kept_by_scripts_up_is_used_and_resumed_on(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    env = {**_env(runs), "DEVHOST_PORT": str(free_port()), "DEVHOST_WORKERS": "1", "DEVHOST_THREADS": "1"}
    up = subprocess.Popen(
        [sys.executable, "-m", "devhost.stack"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    state_path = runs / "stack.json"
    try:
        deadline = time.monotonic() + scaled(180)
        while not state_path.exists():
            assert up.poll() is None, up.communicate()
            assert time.monotonic() < deadline, "scripts/up never wrote its state"
            time.sleep(0.2)
        assert state_path.stat().st_mode & 0o777 == 0o600  # it holds the function key
        state = json.loads(state_path.read_text())

        first = _script([str(SPEECH), "--out", str(out)], runs)
        text, err = first.communicate(timeout=scaled(180))
        assert first.returncode == 0, err
        assert f"Reusing the stack from scripts/up at {state['base_url']}" in err
        assert "Starting the local stack" not in err
        assert state["function_key"] not in err + text
        assert wer((ROOT / "tests" / "data" / "speech.txt").read_text(), text) < 0.15
        match = re.search(r"Job (\S+): ", err)
        assert match, err
        job_id = match.group(1)
        # the job is the warm stack's: its API knows it, finished
        headers = {"x-functions-key": state["function_key"]}
        job = httpx.get(f"{state['base_url']}/api/jobs/{job_id}", headers=headers, timeout=10).json()
        assert job["status"] == "completed"
        assert sorted(runs.iterdir()) == [state_path]  # the run's folder is gone, and no stack was kept for it

        # an interrupted run on that stack resumes on it (here: its job is done, only the download is left)
        folder = runs / "interrupted"
        folder.mkdir()
        saved: dict[str, object] = {"audio": str(SPEECH), "out": str(tmp_path / "again"), "language": None}
        saved |= {"workers": 1, "model": "tiny.en", "window": 600.0, "timings": False}
        saved |= {"job_id": job_id, "stack_id": state["id"]}
        (folder / "run.json").write_text(json.dumps(saved))
        resumed = _script(["--resume", str(folder)], runs)
        again, err = resumed.communicate(timeout=scaled(120))
        assert resumed.returncode == 0, err
        assert "Reusing the stack from scripts/up" in err and f"Job {job_id}:" in err
        assert again == text and not folder.exists()
    finally:
        up.send_signal(signal.SIGTERM)
        log = up.communicate(timeout=scaled(60))[0].decode(errors="replace")
    assert up.returncode == 0, log
    assert not state_path.exists()  # removed on the way out


def _job_started(runs: Path, command: Command, known: set[Path]) -> Path:
    """The folder of ``command``'s run once its job exists and is being followed (its upload is done)."""
    command.wait_for("segments", timeout_s=180)  # the first progress line: the job is queued or running
    (folder,) = [p for p in runs.iterdir() if p.is_dir() and p not in known]
    assert json.loads((folder / "run.json").read_text())["job_id"]
    return folder


def test_on_the_warm_stack_a_stop_a_cancel_an_odd_name_and_the_stacks_end(tmp_path: Path) -> None:
    runs, long = tmp_path / "runs", long_recording(tmp_path)
    env = {**_env(runs), "DEVHOST_PORT": str(free_port()), "DEVHOST_WORKERS": "1", "DEVHOST_THREADS": "1"}
    up = subprocess.Popen(
        [sys.executable, "-m", "devhost.stack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    state_path = runs / "stack.json"
    commands: list[Command] = []
    try:
        deadline = time.monotonic() + scaled(180)
        while not state_path.exists():
            assert up.poll() is None and time.monotonic() < deadline, "scripts/up never wrote its state"
            time.sleep(0.2)
        state = json.loads(state_path.read_text())
        headers = {"x-functions-key": state["function_key"]}

        # item 11: SIGTERM mid-job: 143, no traceback, the hint, and a --cancel that exists
        stopped = Command.module([str(long), "--out", str(tmp_path / "one")], runs)
        commands.append(stopped)
        folder = _job_started(runs, stopped, set())
        job_id = json.loads((folder / "run.json").read_text())["job_id"]
        stopped.signal_group(signal.SIGTERM)
        assert stopped.finish(timeout_s=30) == 143, stopped.err
        assert "Stopped (SIGTERM)" in stopped.err and "Traceback" not in stopped.err
        assert f"resume with: scripts/transcribe --resume {folder}" in stopped.err
        assert f"scripts/transcribe --cancel {folder}" in stopped.err

        # item 13: that command cancels the job on the warm stack (it went on without the command)
        assert httpx.get(f"{state['base_url']}/api/jobs/{job_id}", headers=headers, timeout=10).status_code == 202
        canceled = Command.module(["--cancel", str(folder)], runs)
        commands.append(canceled)
        assert canceled.finish(timeout_s=60) == 0, canceled.err
        assert f"Canceled job {job_id} on the stack from scripts/up." in canceled.err and not folder.exists()
        answer = httpx.get(f"{state['base_url']}/api/jobs/{job_id}", headers=headers, timeout=10)
        assert answer.status_code == 409 and answer.json()["code"] == "job_canceled", answer.text

        # items 7 and 14: a name that is not UTF-8, by a relative path from the caller's folder, through the script
        caller = tmp_path / "caller"
        caller.mkdir()
        odd = os.fsdecode(b"caf\xe9 talk.wav")
        (caller / odd).write_bytes(SPEECH.read_bytes())
        named = Command([str(sandbox_script(tmp_path)), odd, "--out", "odd"], runs, cwd=caller)
        commands.append(named)
        assert named.finish(timeout_s=180) == 0, named.err
        assert "Traceback" not in named.err and "Reusing the stack from scripts/up" in named.err
        assert wer((ROOT / "tests" / "data" / "speech.txt").read_text(), named.out) < 0.15
        assert (caller / "odd" / "transcript.txt").read_text() == named.out
        match = re.search(r"Job (\S+): ", named.err)
        assert match, named.err
        job = httpx.get(f"{state['base_url']}/api/jobs/{match.group(1)}", headers=headers, timeout=10).json()
        assert job["filename"] == "caf\ufffd talk.wav"

        # item 9: scripts/up stops under a job: the command notices, ends, and says how to resume
        orphan = Command.module([str(long), "--out", str(tmp_path / "three")], runs)
        commands.append(orphan)
        folder = _job_started(runs, orphan, set())
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=scaled(60)) == 0
        assert orphan.finish(timeout_s=60) == 1, orphan.err
        assert f"the stack from scripts/up at {state['base_url']} stopped" in orphan.err, orphan.err
        assert f"resume with: scripts/transcribe --resume {folder}" in orphan.err and "Traceback" not in orphan.err
    finally:
        for command in commands:
            if command.process.poll() is None:
                command.kill()
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
            up.wait(timeout=scaled(60))
        kill_leftovers(runs)
