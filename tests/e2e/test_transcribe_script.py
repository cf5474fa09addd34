"""``scripts/transcribe`` survives an interruption: Ctrl-C keeps the job's state, ``--resume`` finishes it.

The real script in a subprocess (``python -m devhost.transcribe_local``), as a user runs it: it is interrupted
with SIGINT once its job is transcribing, must say how to resume and print no traceback, and the resumed run
(a new stack on the same state: Azurite's data and the durable store) must finish the same job, write the
transcripts and clean its folder up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "tests" / "data" / "long.flac"


def _script(args: list[str], runs: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSCRIBE_")}
    env["TRANSCRIBE_RUNS_DIR"] = str(runs)
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
