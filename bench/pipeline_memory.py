"""Peak RSS of the workers and of the devhost while files of very different sizes go through the pipeline.

    .venv/bin/python -m bench.pipeline_memory --sizes 100M 3G --workers 2

Each file is a 16 kHz mono PCM WAV: 73 s of speech (tests/data/long.flac) at the start, then digital silence,
written sparse (the silence costs no disk), so a 3 GB file is ~27 hours of audio that the workers still decode
window by window (VAD then skips the silence). RSS is sampled every 50 ms with psutil for every process of the
stack; the upload client runs in-process and is not counted.
"""

from __future__ import annotations

import argparse
import os
import platform
import struct
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
import soundfile

from client.api import TranscriptionApi
from client.cli import parse_bytes
from client.uploads import upload_file
from devhost.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "tests" / "data" / "long.flac"
RATE = 16000


def make_wav(path: Path, size: int) -> float:
    """A sparse PCM16 mono WAV of ``size`` bytes with speech at the start; returns its duration."""
    speech, rate = soundfile.read(SPEECH, dtype="int16")
    assert rate == RATE
    data_bytes = size - 44
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, RATE, RATE * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )
    with path.open("wb") as out:
        out.write(header)
        out.write(speech.tobytes())
        out.truncate(size)
    return data_bytes / (RATE * 2)


class RssSampler:
    def __init__(self, processes: dict[str, int]) -> None:
        self.peaks = dict.fromkeys(processes, 0)
        self._procs = {name: psutil.Process(pid) for name, pid in processes.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for name, proc in self._procs.items():
                try:
                    rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
                except psutil.Error:
                    continue
                self.peaks[name] = max(self.peaks[name], rss)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(size: int, workers: int, folder: Path) -> tuple[float, float, dict[str, int]]:
    audio = folder / f"big_{size}.wav"
    duration = make_wav(audio, size)
    with LocalStack(env={"TRANSCRIBE_EXPECTED_WORKERS": str(workers)}, workers=workers, worker_threads=1) as stack:
        watched = {"devhost": stack.devhost.proc.pid}  # type: ignore[union-attr]
        watched.update({f"worker-{i}": w.proc.pid for i, w in enumerate(stack.workers)})  # type: ignore[union-attr]
        with RssSampler(watched) as sampler:
            api = TranscriptionApi(stack.base_url, stack.function_key)
            job_id = upload_file(api, audio).job_id
            api.close()
            started = time.perf_counter()
            with httpx.Client(base_url=stack.base_url, params=stack.durable_params, timeout=30) as http:
                while (reply := http.get(f"/runtime/webhooks/durabletask/instances/{job_id}")).status_code != 200:
                    time.sleep(0.2)
            seconds = time.perf_counter() - started
        if reply.json()["runtimeStatus"] != "Completed":
            raise RuntimeError(reply.json()["output"])
    audio.unlink()
    return duration, seconds, sampler.peaks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=parse_bytes, nargs="+", default=[parse_bytes("100M"), parse_bytes("3G")])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        for size in args.sizes:
            duration, seconds, peaks = run(size, args.workers, Path(tmp))
            listed = ", ".join(f"{name} {peak / 2**20:.0f} MiB" for name, peak in peaks.items())
            print(
                f"{size / 2**30:.2f} GiB WAV ({duration / 3600:.1f} h of audio), commit to done {seconds:.0f} s: "
                f"peak RSS {listed}",
                flush=True,
            )


if __name__ == "__main__":
    main()
