"""The worker's cold start as a Container Apps replica sees it: every execution is a fresh process.

    .venv/bin/python -m bench.worker_startup                       # bundled tiny.en on CPU
    .venv/bin/python -m bench.worker_startup --model /opt/models/large-v3-turbo --device cuda --rss-batch-sizes

Each round is a fresh interpreter that does what ``python -m worker`` does before it takes its first message, then
transcribes one 30 s window of speech (tests/data/long.flac, with the 2 s overlap a window carries) through the
worker's own ``Transcriber``, and stamps the wall clock at each step, from the moment the parent spawned it:

    python        interpreter up (site, this module; nothing of the worker yet)
    import        ``import worker.__main__`` (storage SDKs, pydantic settings, OpenTelemetry API, the worker)
    telemetry     ``configure_logging`` + ``telemetry.setup`` (off, or Azure Monitor as in Azure with ``--azure``)
    faster        ``import faster_whisper`` (ctranslate2, PyAV, onnxruntime, tokenizers)
    model         ``Transcriber(ModelSpec(...))``: the model load (plus BatchedInferencePipeline when batched)
    vad           Silero VAD's ONNX session (faster-whisper loads it on the first transcribe; split out here)
    audio         probe + decode of the first window (shared/audio, as the worker decodes a range read)
    first         the first segment of that window is out (``on_progress``)
    window        the whole 30 s window is transcribed: the first-segment latency of a cold replica

Configurations: sequential (batch 1), batched (batch 8), and sequential with Azure Monitor telemetry set up as in
Azure (connection string and AAD auth string pointing nowhere: the exporters' set-up is timed, not their sends).
Median of ``--rounds`` (3), rounds interleaved. Then the peak RSS of one ``--rss-window`` s window (600 s: enough
speech to fill a batch of 16 chunks) at batch sizes 1, 8, 16, and ``python -X importtime`` of the worker's imports,
to say where import time goes. Nothing here needs storage or a network.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.report import emit

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "data" / "long.flac"
STAGES = ("python", "import", "telemetry", "faster", "model", "vad", "audio", "first", "window")
FAKE_AZURE = {
    # Shaped like the deployment's settings (infra/bicep/modules/worker-job.bicep); the endpoints go nowhere.
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
    "IngestionEndpoint=https://127.0.0.1:9/;LiveEndpoint=https://127.0.0.1:9/",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "ClientId=00000000-0000-0000-0000-000000000001;Authorization=AAD",
}


# --- the child: one cold start ------------------------------------------------------------------------------------
def child(spawned: float, args: argparse.Namespace) -> dict[str, Any]:
    stamps = {"python": round(time.time() - spawned, 3)}

    def stamp(name: str) -> None:
        stamps[name] = round(time.time() - spawned, 3)

    import worker.__main__  # noqa: F401  (what `python -m worker` imports before main())

    stamp("import")
    from shared.telemetry import setup as telemetry
    from shared.telemetry.logs import configure_logging
    from shared.telemetry.names import SERVICE_WORKER

    configure_logging(SERVICE_WORKER, stream=open(os.devnull, "w"))  # noqa: SIM115 (for the process's life)
    telemetry.setup(SERVICE_WORKER)
    stamp("telemetry")
    import faster_whisper  # noqa: F401

    stamp("faster")
    spec, transcriber = load(args.model, args.device, args.batch_size, args.threads)
    stamp("model")
    from faster_whisper.vad import get_vad_model

    get_vad_model()
    stamp("vad")
    samples, window = first_window(args.window)
    stamp("audio")
    firsts: list[float] = []

    def progress(_: float) -> None:
        if not firsts:
            firsts.append(time.time() - spawned)

    segments = transcriber.transcribe(samples, window, on_progress=progress).segments
    stamp("window")
    stamps["first"] = round(firsts[0], 3) if firsts else stamps["window"]
    return {"batch_size": spec.batch_size, "segments": len(segments), **stamps, "peak_rss_mib": peak_rss_mib()}


def load(model: str, device: str, batch_size: int, threads: int) -> tuple[Any, Any]:
    from worker.engines.whisper import ModelSpec, Transcriber

    spec = ModelSpec(model, device, None, threads, batch_size)
    return spec, Transcriber(spec)


def first_window(seconds: float, overlap_s: float = 2.0) -> tuple[Any, Any]:
    """The first ``seconds`` of speech (tests/data/long.flac repeated if needed) and its Window, as dispatched."""
    import numpy as np

    from shared.audio.decode import read_window
    from shared.audio.probe import probe
    from shared.contracts import Window

    end = seconds + overlap_s
    with SOURCE.open("rb") as f:
        info = probe(f, SOURCE.name)
        samples = read_window(f, info, 0.0, min(end, info.duration_s))
    if len(samples) < end * 16000:
        samples = np.tile(samples, int(end * 16000 // len(samples)) + 1)[: int(end * 16000)]
    return samples, Window(index=0, start_s=0.0, end_s=end, keep_start_s=0.0, keep_end_s=seconds)


def peak_rss_mib() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- the parent ---------------------------------------------------------------------------------------------------
def spawn(args: argparse.Namespace, batch_size: int, window_s: float, azure: bool) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "TRANSCRIBE_LOG_FORMAT": "text"}
    for name in ("APPLICATIONINSIGHTS_CONNECTION_STRING", "OTEL_EXPORTER_OTLP_ENDPOINT", "TRANSCRIBE_TELEMETRY_DIR"):
        env.pop(name, None)
    if azure:
        env.update(FAKE_AZURE)
    command = [
        sys.executable,
        "-m",
        "bench.worker_startup",
        "--child",
        "--model",
        args.model,
        "--device",
        args.device,
        "--threads",
        str(args.threads),
        "--batch-size",
        str(batch_size),
        "--window",
        str(window_s),
    ]
    spawned = time.time()
    done = subprocess.run([*command, "--spawned", repr(spawned)], capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"batch {batch_size} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def steps(result: dict[str, Any]) -> dict[str, float]:
    """Time spent in each stage (the stamps are cumulative)."""
    out, before = {}, 0.0
    for name in STAGES:
        if name == "first":
            continue
        out[name] = round(result[name] - before, 3)
        before = result[name]
    return out


def median(rounds: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in rounds), 3) for k in keys}


def import_profile(top: int = 15) -> list[dict[str, Any]]:
    """``python -X importtime`` of what a worker imports before its first segment: the packages whose modules'
    own import time adds up to most, in ms (second of two runs, so the OS file cache is warm, as on a replica whose
    image layers were just pulled; a first start from a cold disk is slower still)."""
    code = "import worker.__main__, faster_whisper, faster_whisper.vad, worker.engines.whisper"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stderr = ""
    for _ in range(2):
        stderr = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, cwd=ROOT, env=env
        ).stderr
    by_package: dict[str, float] = {}
    for line in stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| \s*(\S+)", line)
        if found:
            package = found.group(3).split(".")[0]
            by_package[package] = by_package.get(package, 0.0) + int(found.group(1)) / 1000
    ranked = sorted(by_package.items(), key=lambda kv: -kv[1])
    return [{"package": name, "self_ms": round(ms, 1)} for name, ms in ranked[:top]]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en", help="tiny.en (bundled) or a CTranslate2 folder")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--threads", type=int, default=0, help="CTranslate2 CPU threads (0: all cores)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batched", type=int, default=8, help="the batched configuration's batch size")
    parser.add_argument("--window", type=float, default=30.0, help="the first window's length (s)")
    parser.add_argument("--rss-window", type=float, default=600.0, help="the window the peak RSS is measured on")
    parser.add_argument("--rss-batch-sizes", type=int, nargs="*", default=[1, 8, 16])
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON report here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--spawned", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=1, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        result = child(args.spawned, args)
        print(json.dumps(result), flush=True)
        os._exit(0)  # as a killed replica: no exporter flush at exit (it would wait on endpoints that go nowhere)
    configs = {
        "sequential": (1, False),
        f"batched {args.batched}": (args.batched, False),
        "sequential, Azure Monitor": (1, True),
    }
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    for k in range(args.rounds):
        for name, (batch, azure) in configs.items():
            result = spawn(args, batch, args.window, azure)
            rounds[name].append({**result, **{f"{s}_s": v for s, v in steps(result).items()}})
            print(f"round {k + 1} {name}: {json.dumps(result)}", file=sys.stderr, flush=True)
    step_keys = tuple(f"{s}_s" for s in STAGES if s != "first")
    startup = {
        name: {**median(r, ("first", "window", "peak_rss_mib")), **median(r, step_keys)} for name, r in rounds.items()
    }
    rss = []
    for batch in args.rss_batch_sizes:
        result = spawn(args, batch, args.rss_window, False)
        rss.append(
            {
                "batch_size": batch,
                "window_s": args.rss_window,
                "peak_rss_mib": result["peak_rss_mib"],
                "transcribe_s": round(result["window"] - result["audio"], 2),
            }
        )
        print(f"rss batch {batch}: {json.dumps(result)}", file=sys.stderr, flush=True)
    report = {
        "model": args.model,
        "device": args.device,
        "rounds": args.rounds,
        "startup": startup,
        "peak_rss": rss,
        "imports": import_profile(),
        "raw": rounds,
    }
    emit(report, args.out, tables(report))
    return 0


def tables(report: dict[str, Any]) -> str:
    head = "| configuration | " + " | ".join(s for s in STAGES if s != "first") + " | first segment | window done |"
    lines = [head, "|---" * (len(STAGES) + 2) + "|"]
    for name, m in report["startup"].items():
        cells = " | ".join(f"{m[f'{s}_s']:.2f}" for s in STAGES if s != "first")
        lines.append(f"| {name} | {cells} | {m['first']:.2f} | {m['window']:.2f} |")
    lines += ["", "| batch size | window s | peak RSS MiB | transcribe s |", "|---|---|---|---|"]
    for r in report["peak_rss"]:
        lines.append(f"| {r['batch_size']} | {r['window_s']:g} | {r['peak_rss_mib']:.0f} | {r['transcribe_s']:.1f} |")
    lines += ["", "| package | import ms (its modules' own time) |", "|---|---|"]
    lines += [f"| {r['package']} | {r['self_ms']:.0f} |" for r in report["imports"]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
