"""The issue's ten-hour file: speech, ten hours of silence, speech, at 30 s windows (1,204 segments), real workers.

    .venv/bin/python -m bench.ten_hours [--hours 10] [--window 30] [--workers 2]

The WAV (16 kHz mono, 1.16 GB for ten hours) is written in slices to a temporary folder, never held in memory, and
deleted afterwards. The job runs through the whole one-machine stack with tiny.en workers, as
``scripts/transcribe --window 30`` would; reported: wall time from the committed upload to the completed job,
segments, the host's and the workers' peak RSS, the status API's latency during the job, and whether the text of
both speech passages came back (and nothing from the silence).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.scale import cpu_model
from client.api import TranscriptionApi
from client.uploads import upload_file
from devhost.stack import LocalStack

SPEECH = Path(__file__).resolve().parent.parent / "tests" / "data" / "speech_16k_mono.wav"


def speech_silence_speech(path: Path, hours: float) -> Path:
    with wave.open(str(SPEECH), "rb") as source:
        rate, speech = source.getframerate(), source.readframes(source.getnframes())
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(speech)
        second = b"\0\0" * rate
        for _ in range(int(hours * 3600)):
            out.writeframes(second)
        out.writeframes(speech)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-ten-hours-"))
    audio = speech_silence_speech(folder / "speech-silence-speech.wav", args.hours)
    env = {
        "TRANSCRIBE_SEGMENT_WINDOW_S": str(args.window),
        "TRANSCRIBE_SEGMENT_MIN_WINDOW_S": str(min(30.0, args.window)),
        "TRANSCRIBE_EXPECTED_WORKERS": str(args.workers),
    }
    peaks: dict[str, int] = {"host": 0, "workers": 0}
    latencies: list[float] = []
    stop = threading.Event()
    try:
        with LocalStack(env=env, workers=args.workers, worker_threads=1) as stack:
            processes = {
                "host": [psutil.Process(stack.devhost.proc.pid)],  # type: ignore[union-attr]
                "workers": [psutil.Process(w.proc.pid) for w in stack.workers],  # type: ignore[union-attr]
            }
            api = TranscriptionApi(stack.base_url, stack.function_key)
            upload_started = time.perf_counter()
            job_id = upload_file(api, audio).job_id
            upload_s = time.perf_counter() - upload_started

            def watch() -> None:
                headers = {"x-functions-key": stack.function_key}
                with httpx.Client(base_url=stack.base_url, headers=headers, timeout=60) as http:
                    while not stop.is_set():
                        t = time.perf_counter()
                        http.get(f"/api/jobs/{job_id}")
                        latencies.append(time.perf_counter() - t)
                        for kind, group in processes.items():
                            peaks[kind] = max(peaks[kind], max(p.memory_info().rss for p in group))
                        stop.wait(0.25)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            started = time.perf_counter()
            while True:
                finished, job, _ = api.get_job(job_id)
                if finished:
                    break
                time.sleep(1.0)
            wall = time.perf_counter() - started
            stop.set()
            watcher.join()
            text = api.transcript(job_id, "txt").decode()
            api.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result: dict[str, Any] = job["result"]
    ordered = sorted(latencies) or [0.0]
    reference = SPEECH.with_name("speech.txt").read_text().split()
    report = {
        "cpu": cpu_model(),
        "audio": f"22 s speech + {args.hours:g} h silence + 22 s speech, 16 kHz mono WAV",
        "window_s": args.window,
        "workers": f"{args.workers} x 1 thread, tiny.en int8",
        "upload_s": round(upload_s, 1),
        "job_wall_s": round(wall, 1),
        "audio_s": result["duration_s"],
        "rtfx": round(result["duration_s"] / wall, 1),
        "words": result["words"],
        "words_in_reference_x2": 2 * len(reference),
        "host_peak_rss_mib": round(peaks["host"] / 2**20, 1),
        "worker_peak_rss_mib": round(peaks["workers"] / 2**20, 1),
        "status_api_p50_ms": round(1000 * statistics.median(ordered), 1),
        "status_api_p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 1),
        "text_lines": len(text.splitlines()),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
