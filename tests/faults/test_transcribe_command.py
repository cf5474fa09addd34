"""Hostile input to ``scripts/transcribe`` itself (issue 22): what it must refuse, and how it must stop.

Each case runs the real command in a subprocess and looks only at what a user sees: the exit status, one clear
line, never a traceback, no resume hint where resuming cannot succeed, no stack started for a run that cannot
succeed, no function key handed to a stranger, and nothing left running. Relative paths go through the real
``scripts/transcribe`` (``tests/support/transcribe_command.py``), which changes to the repository's folder.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest

from devhost.stack import STATE_FILE, StackState
from tests.support.impostor import impostor
from tests.support.speed import scaled
from tests.support.transcribe_command import (
    ROOT,
    Command,
    command_line,
    kill_leftovers,
    leftovers,
    long_recording,
    sandbox_script,
)

SPEECH = ROOT / "tests" / "data" / "speech_16k_mono.wav"
KEY = "never-sent-to-a-stranger"
# Stopping a stack: SIGTERM and up to 5 s for the devhost and workers, then up to 2 s for Azurite (devhost.stack),
# and a request in flight; 30 s leaves a loaded 2-core machine room without hiding a command that hangs on (scaled by
# this machine's pace, tests/support/speed.py).
STOP_S = 30.0


def _quick(args: list[str], runs: Path, cwd: Path = ROOT) -> tuple[int, str]:
    command = Command.module(args, runs, cwd)
    try:
        return command.finish(timeout_s=120), command.err
    finally:
        kill_leftovers(runs)


def _run_folders(runs: Path) -> list[Path]:
    return [p for p in runs.iterdir() if p.is_dir()] if runs.exists() else []


# Item 8: a damaged run.json.

DAMAGED = {
    "not json": "{not json",
    "cut short": '{"audio": "/a.wav", "out": "/o", "langu',
    "a list": "[1, 2]",
    "wrong types": json.dumps({"audio": 1, "out": "/o", "language": None, "workers": "2", "model": "tiny.en"}),
    "missing fields": json.dumps({"audio": "/a.wav"}),
}


@pytest.mark.parametrize("text", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_damaged_run_file_is_refused_in_one_line(tmp_path: Path, text: str) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text(text)
    code, err = _quick(["--resume", str(folder)], tmp_path / "runs")
    assert code == 2, err
    assert "Traceback" not in err and f"{folder / 'run.json'} is damaged" in err
    assert "Starting the local stack" not in err


# Item 12: what would fail anyway is refused before a stack starts, with no resume hint.


def _named(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    shutil.copy(SPEECH, path)
    return path


REFUSED = {
    "bidi override in the name": ("talk\u202egnp.wav", [], "invalid_filename: the file name contains a control"),
    "no extension": ("speech", [], "has no extension"),
    "unsupported extension": ("speech.txt", [], "unsupported_format: '.txt' is not supported"),
    "--out is a file": ("speech.wav", ["--out", "{taken}"], "is a file; give a folder for the transcripts"),
}


@pytest.mark.parametrize(("name", "flags", "says"), REFUSED.values(), ids=REFUSED.keys())
def test_a_run_that_cannot_succeed_is_refused_before_a_stack_starts(
    tmp_path: Path, name: str, flags: list[str], says: str
) -> None:
    audio, taken = _named(tmp_path, name), tmp_path / "taken"
    taken.write_text("a file, not a folder")
    runs = tmp_path / "runs"
    code, err = _quick([str(audio), *[f.format(taken=taken) for f in flags]], runs)
    assert code == 2, err
    assert says in err and "Traceback" not in err
    assert "Starting the local stack" not in err and "resume" not in err
    assert _run_folders(runs) == []  # nothing kept: there is nothing to resume


def test_resuming_without_the_recording_is_refused_before_a_stack_starts(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "interrupted"
    folder.mkdir(parents=True)
    gone = tmp_path / "deleted.wav"
    saved = {"audio": str(gone), "out": str(tmp_path / "out"), "language": None, "workers": 1, "model": "tiny.en"}
    (folder / "run.json").write_text(json.dumps({**saved, "window": 600.0, "timings": False, "job_id": "j1"}))
    code, err = _quick(["--resume", str(folder)], tmp_path / "runs")
    assert code == 2, err
    assert f"{gone} is not a file" in err and f"drop it with: scripts/transcribe --cancel {folder}" in err
    assert "Starting the local stack" not in err and "Traceback" not in err
    assert folder.exists()  # the user decides: put the file back, or drop the run


def test_a_file_the_service_refuses_gets_no_resume_hint(tmp_path: Path) -> None:
    """What only the service knows (here its size limit) is refused by the API: with no job, nothing to resume."""
    runs = tmp_path / "runs"
    command = Command.module([str(SPEECH), "--workers", "1"], runs, TRANSCRIBE_MAX_UPLOAD_BYTES="1000")
    try:
        code = command.finish(timeout_s=180)
    finally:
        kill_leftovers(runs)
    assert code == 1 and "file_too_large (413)" in command.err, command.err
    assert "resume with" not in command.err and "Traceback" not in command.err
    assert _run_folders(runs) == []


# Items 1 and 3 where a person reads them: a completed job's warnings are printed with its summary.


def test_a_completed_jobs_warnings_are_printed(tmp_path: Path) -> None:
    """20 s of hiss: the job completes with no words and ``no_words_heard``, which the command must not hide."""
    from tests.faults.bad_inputs import hiss

    runs, audio = tmp_path / "runs", hiss(tmp_path)
    command = Command.module([str(audio), "--workers", "1", "--out", str(tmp_path / "out")], runs)
    try:
        code = command.finish(timeout_s=240)
    finally:
        kill_leftovers(runs)
    assert code == 0, command.err
    assert "0 words" in command.err and "warning no_words_heard: " in command.err, command.err


# Item 9: the run's own stack dies under its job.


def test_a_run_whose_own_stack_dies_stops_with_the_resume_hint(tmp_path: Path) -> None:
    import os

    runs = tmp_path / "runs"
    command = Command.module([str(long_recording(tmp_path)), "--workers", "1", "--out", str(tmp_path / "out")], runs)
    try:
        command.wait_for("segments", timeout_s=180)  # the job is being followed
        (devhost,) = [pid for pid in leftovers(runs) if "devhost" in command_line(pid)[1:3]]
        os.kill(devhost, signal.SIGKILL)
        code = command.finish(timeout_s=60)  # not the 6 hours of --timeout
    finally:
        left = kill_leftovers(runs)
    assert code == 1, command.err
    assert "error: this run's stack stopped (its devhost exited with -9)" in command.err
    assert "resume with: scripts/transcribe --resume" in command.err and "Traceback" not in command.err
    assert left == []  # the rest of its stack was stopped


# Item 14: relative paths are the caller's, through the real script.


def test_relative_paths_are_taken_from_the_callers_folder(tmp_path: Path) -> None:
    script, caller, runs = sandbox_script(tmp_path), tmp_path / "caller", tmp_path / "runs"
    caller.mkdir()
    _named(caller, "speech8k.wav")
    (caller / "taken").write_text("a file")
    command = Command([str(script), "speech8k.wav", "--out", "taken"], runs, cwd=caller)
    try:
        code = command.finish(timeout_s=120)
    finally:
        kill_leftovers(runs)
    # the recording was found where the caller is; --out too (and refused there, before any stack)
    assert code == 2 and f"--out {caller / 'taken'} is a file" in command.err, command.err
    (caller / "damaged").mkdir()
    (caller / "damaged" / "run.json").write_text("{")
    command = Command([str(script), "--resume", "damaged"], runs, cwd=caller)
    assert command.finish(timeout_s=120) == 2
    assert f"{caller / 'damaged' / 'run.json'} is damaged" in command.err, command.err


# Item 5: the function key goes only to the warm stack's own devhost.


def test_the_key_is_not_sent_to_another_process_on_the_warm_stacks_port(tmp_path: Path) -> None:
    import subprocess
    import sys

    runs = tmp_path / "runs"
    alive = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]) for _ in range(2)]
    try:
        with impostor(tmp_path) as stranger:
            settings = {"model": "tiny.en", "window": 600.0, "min_window": 30.0, "overlap": 2.0, "workers": 2}
            settings |= {"threads": 1, "batch_size": 2, "gpus": 0, "telemetry_dir": None}
            StackState(
                id="stale",
                pid=alive[0].pid,  # a scripts/up and a devhost still running, but not what answers on the port
                base_url=f"http://127.0.0.1:{stranger.port}",
                function_key=KEY,
                pids={"devhost": alive[1].pid},
                settings=settings,
            ).write(runs / STATE_FILE)
            command = Command.module([str(SPEECH), "--out", str(tmp_path / "out")], runs)
            try:
                command.wait_for("Starting the local stack", timeout_s=120)
                command.signal_group(signal.SIGINT)  # enough seen: it starts its own stack
                code = command.finish(timeout_s=STOP_S)
            finally:
                kill_leftovers(runs)
            assert f"port {stranger.port} is not held by its devhost (pid {alive[1].pid})" in command.err
            assert code == 130 and "Traceback" not in command.err, command.err
            assert not any(KEY in line for line in stranger.requests), stranger.requests
    finally:
        for process in alive:
            process.kill()
            process.wait()


# Items 10 and 11: Ctrl-C (or SIGTERM) early, to the whole process group, through the real script.

# 0.05 s once exited 255 after "Interrupted (Ctrl-C)." (one full run in three on a 2-core EPYC): the subshell that
# becomes the command died of the signal before it could ignore it, and bash reported a status of -1 for it.
# scripts/transcribe now knows whether the command took the signals over (its header says how) and answers for it
# when not; the cases around it cover the script, Python starting and the imports.
EARLY = [(signal.SIGINT, at) for at in (0.0, 0.05, 0.1, 0.3, 0.5, 1.0, 2.0)] + [
    (signal.SIGTERM, 0.1),
    (signal.SIGTERM, 1.0),
]


@pytest.mark.parametrize(("signum", "after_s"), EARLY, ids=[f"{s.name}-{t}s" for s, t in EARLY])
def test_a_signal_early_stops_cleanly_whenever_it_comes(tmp_path: Path, signum: signal.Signals, after_s: float) -> None:
    import time

    script, runs = sandbox_script(tmp_path), tmp_path / "runs"
    command = Command([str(script), str(SPEECH), "--out", str(tmp_path / "out")], runs)
    try:
        # from the script's first line: the script, Python starting, the imports, or the stack starting; the
        # outcome must not depend on which
        command.wait_catching(signum)
        time.sleep(after_s)
        command.signal_group(signum)
        signalled = time.monotonic()
        code = command.finish(timeout_s=STOP_S)
        took = time.monotonic() - signalled
    finally:
        left = kill_leftovers(runs)
    said = "Interrupted (Ctrl-C)" if signum == signal.SIGINT else "Stopped (SIGTERM)"
    assert code == 128 + signum, command.err
    assert "Traceback" not in command.err and said in command.err, command.err
    assert took < scaled(STOP_S)
    assert left == [] and leftovers(runs) == []  # the stack it started is stopped
    folders = _run_folders(runs)
    jobs = [json.loads((f / "run.json").read_text()).get("job_id") for f in folders if (f / "run.json").exists()]
    if any(jobs):
        assert "resume with: scripts/transcribe --resume" in command.err
    else:  # no job yet: nothing to resume, nothing kept
        assert folders == [] and "resume with" not in command.err


def test_the_command_stops_cleanly_when_its_script_is_killed(tmp_path: Path) -> None:
    """``kill -9`` on scripts/transcribe: the Python command it started stops as for SIGTERM (PR_SET_PDEATHSIG)."""
    import os
    import time

    script, runs = sandbox_script(tmp_path), tmp_path / "runs"
    command = Command([str(script), str(SPEECH), "--out", str(tmp_path / "out")], runs)
    try:
        command.wait_for("Starting the local stack", timeout_s=120)
        os.kill(command.process.pid, signal.SIGKILL)  # the script only; the command and its stack live on, for now
        deadline = time.monotonic() + scaled(STOP_S)
        while leftovers(runs) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        left = kill_leftovers(runs)
        command.kill()
    assert left == [], "the command or its stack outlived the script"
