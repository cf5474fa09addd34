"""``scripts/transcribe`` survives an interruption, and uses the stack ``scripts/up`` keeps warm.

The real script in a subprocess (``python -m devhost.transcribe_local``), as a user runs it: it is interrupted
with SIGINT once its job is transcribing, must say how to resume and print no traceback, and the resumed run
(a new stack on the same state: Azurite's data and the durable store) must finish the same job, write the
transcripts and clean its folder up. With ``python -m devhost.stack`` (``scripts/up``) running, its jobs go to
that stack, a resumed one too, and none of its own is started.
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
        [sys.executable, "-m", "devhost.transcribe_local", *args],
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
        deadline = time.monotonic() + 180
        while not any(json.loads(p.read_text()).get("job_id") for p in runs.glob("*/run.json")):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the run never created its job"
            time.sleep(0.2)
        time.sleep(0.5)  # early in the job (mid-upload or mid-transcription: both must resume), even on a fast CPU
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130, err
    assert "Traceback" not in err
    (folder,) = runs.iterdir()
    assert f"resume with: scripts/transcribe --resume {folder}" in err
    job_id = json.loads((folder / "run.json").read_text())["job_id"]

    second = _script(["--resume", str(folder)], runs)
    text, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert "Traceback" not in err
    assert f"Job {job_id}:" in err  # the same job, finished
    assert (out / "transcript.txt").read_text() == text and len(text.split()) > 100
    assert not folder.exists()  # nothing left to resume


def test_resume_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    result = _script(["--resume", str(tmp_path)], tmp_path / "runs")
    _, err = result.communicate(timeout=60)
    assert result.returncode == 2 and "is not the folder of an interrupted run" in err and "Traceback" not in err


def test_a_stack_kept_by_scripts_up_is_used_and_resumed_on(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    env = {**_env(runs), "DEVHOST_PORT": str(free_port()), "DEVHOST_WORKERS": "1", "DEVHOST_THREADS": "1"}
    up = subprocess.Popen(
        [sys.executable, "-m", "devhost.stack"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    state_path = runs / "stack.json"
    try:
        deadline = time.monotonic() + 180
        while not state_path.exists():
            assert up.poll() is None, up.communicate()
            assert time.monotonic() < deadline, "scripts/up never wrote its state"
            time.sleep(0.2)
        assert state_path.stat().st_mode & 0o777 == 0o600  # it holds the function key
        state = json.loads(state_path.read_text())

        first = _script([str(SPEECH), "--out", str(out)], runs)
        text, err = first.communicate(timeout=180)
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
        again, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err
        assert "Reusing the stack from scripts/up" in err and f"Job {job_id}:" in err
        assert again == text and not folder.exists()
    finally:
        up.send_signal(signal.SIGTERM)
        log = up.communicate(timeout=60)[0].decode(errors="replace")
    assert up.returncode == 0, log
    assert not state_path.exists()  # removed on the way out
