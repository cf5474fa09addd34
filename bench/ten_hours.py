"""Very long files through the whole stack with real workers: the ten-hour file and the 48-hour one.

    .venv/bin/python -m bench.ten_hours [--hours 10] [--window 30] [--workers 2]
    .venv/bin/python -m bench.ten_hours --hours 48 --window 300 --speech-every 60

Without ``--speech-every``: the scale issue's file, speech, N hours of silence, speech. With it: speech throughout,
a 22 s passage every M minutes (its offset in the hour moved by 37 s each time, so passages land at every place in
a window, seams included) and silence between. The WAV (16 kHz mono, 1.16 GB for ten hours, 5.5 GB for 48) is
written in slices to a temporary folder, never held in memory, and deleted afterwards. The job runs through the whole
one-machine stack with tiny.en workers, as ``scripts/transcribe`` would; reported: wall time from the committed
upload to the completed job, segments, the host's and the workers' RSS (peak, and the peak in each quarter of the
job, so growth with the file's length shows), the status API's latency during the job, and the words back against
the passages' text (WER over the whole file).
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
import numpy
import psutil
import soundfile

from bench.scale import cpu_model
from client.api import TranscriptionApi
from client.uploads import upload_file
from devhost.stack import LocalStack
from shared.transcripts.windows import window_count
from tests.support.wer import wer, words

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


def passages_every(path: Path, hours: float, every_min: float) -> tuple[Path, int]:
    """Speech passages every ``every_min`` minutes, silence between; returns the file and the passage count.

    Over 4 GiB of PCM (37 h at 16 kHz) a RIFF WAV cannot say its size, so the file is RF64 (EBU Tech 3306), as
    recorders write long takes; libsndfile reads it like a WAV.
    """
    speech, rate = soundfile.read(str(SPEECH), dtype="int16")
    period, total = int(every_min * 60 * rate), int(hours * 3600 * rate)
    minute = numpy.zeros(60 * rate, dtype=numpy.int16)
    kind = "RF64" if 2 * total > 0xFFFFFFFF - 64 else "WAV"
    written = passages = 0
    with soundfile.SoundFile(str(path), "w", rate, 1, "PCM_16", format=kind) as out:
        for k in range(total // period):
            written += _silence(out, (k * 37 * rate) % (period - len(speech)), minute)
            out.write(speech)
            written += len(speech)
            passages += 1
            written += _silence(out, (k + 1) * period - written, minute)
        _silence(out, total - written, minute)
    return path, passages


def _silence(out: soundfile.SoundFile, frames: int, minute: numpy.ndarray) -> int:
    left = max(frames, 0)
    while left:
        step = min(left, len(minute))
        out.write(minute[:step])
        left -= step
    return max(frames, 0)


def by_quarter(samples: list[tuple[float, int]], wall: float) -> list[float]:
    """The peak RSS (MiB) in each quarter of the job: flat memory shows as four near-equal figures."""
    peaks = [0] * 4
    for t, rss in samples:
        quarter = min(int(4 * t / max(wall, 1e-9)), 3)
        peaks[quarter] = max(peaks[quarter], rss)
    return [round(p / 2**20, 1) for p in peaks]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--speech-every", type=float, metavar="MINUTES", help="speech throughout, not at the ends")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-long-file-"))
    if args.speech_every:
        audio, passages = passages_every(folder / "passages.wav", args.hours, args.speech_every)
        layout = f"a 22 s passage every {args.speech_every:g} min over {args.hours:g} h, silence between"
    else:
        audio, passages = speech_silence_speech(folder / "speech-silence-speech.wav", args.hours), 2
        layout = f"22 s speech + {args.hours:g} h silence + 22 s speech"
    env = {
        "TRANSCRIBE_SEGMENT_WINDOW_S": str(args.window),
        "TRANSCRIBE_SEGMENT_MIN_WINDOW_S": str(min(30.0, args.window)),
        "TRANSCRIBE_EXPECTED_WORKERS": str(args.workers),
    }
    try:
        run = _run(audio, env, args.workers)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    reference_text = SPEECH.with_name("speech.txt").read_text()
    result: dict[str, Any] = run["job"]["result"]
    ordered = sorted(run["latencies"]) or [0.0]
    samples: dict[str, list[tuple[float, int]]] = run["samples"]
    report = {
        "cpu": cpu_model(),
        "audio": f"{layout}, 16 kHz mono WAV, {run['bytes'] / 1e9:.2f} GB",
        "window_s": args.window,
        "workers": f"{args.workers} x 1 thread, tiny.en int8",
        "upload_s": round(run["upload_s"], 1),
        "job_wall_s": round(run["wall"], 1),
        "windows": window_count(
            result["duration_s"], window_s=args.window, workers=args.workers, min_window_s=min(30.0, args.window)
        ),
        "transcript_segments": result["segments"],
        "audio_s": result["duration_s"],
        "rtfx": round(result["duration_s"] / run["wall"], 1),
        "words": result["words"],
        "words_in_passages": passages * len(words(reference_text)),
        "wer": round(wer(" ".join([reference_text] * passages), run["text"]), 4),
        "host_peak_rss_mib": round(max(r for _, r in samples["host"]) / 2**20, 1),
        "host_rss_mib_by_quarter": by_quarter(samples["host"], run["wall"]),
        "worker_peak_rss_mib": round(max(r for _, r in samples["workers"]) / 2**20, 1),
        "worker_rss_mib_by_quarter": by_quarter(samples["workers"], run["wall"]),
        "status_api_p50_ms": round(1000 * statistics.median(ordered), 1),
        "status_api_p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 1),
    }
    print(json.dumps(report, indent=2))
    return 0


def _run(audio: Path, env: dict[str, str], workers: int) -> dict[str, Any]:
    """One job on a fresh stack, with the host's and the workers' RSS and the status API sampled during it."""
    samples: dict[str, list[tuple[float, int]]] = {"host": [], "workers": []}
    latencies: list[float] = []
    stop = threading.Event()
    with LocalStack(env=env, workers=workers, worker_threads=1) as stack:
        processes = {
            "host": [psutil.Process(stack.devhost.proc.pid)],  # type: ignore[union-attr]
            "workers": [psutil.Process(w.proc.pid) for w in stack.workers],  # type: ignore[union-attr]
        }
        api = TranscriptionApi(stack.base_url, stack.function_key)
        upload_started = time.perf_counter()
        job_id = upload_file(api, audio).job_id
        started = time.perf_counter()

        def watch() -> None:
            headers = {"x-functions-key": stack.function_key}
            with httpx.Client(base_url=stack.base_url, headers=headers, timeout=60) as http:
                while not stop.is_set():
                    t = time.perf_counter()
                    http.get(f"/api/jobs/{job_id}")
                    latencies.append(time.perf_counter() - t)
                    for kind, group in processes.items():
                        samples[kind].append((t - started, max(p.memory_info().rss for p in group)))
                    stop.wait(0.25)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
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
    return {
        "job": job,
        "text": text,
        "wall": wall,
        "upload_s": started - upload_started,
        "bytes": audio.stat().st_size,
        "samples": samples,
        "latencies": latencies,
    }


if __name__ == "__main__":
    raise SystemExit(main())
