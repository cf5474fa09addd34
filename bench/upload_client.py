"""Client upload benchmark: peak RSS and throughput of ``python -m client upload`` against Azurite, compared
with azure-storage-blob's ``BlobClient.upload_blob`` at the same block size and concurrency, in the same run.

    .venv/bin/python -m bench.upload_client --size 5G --block-size 8M --concurrency 4 --rounds 2

The file is sparse (made with truncate): nothing is committed and the page cache is not the bottleneck, so the
figures measure the upload path. Each upload runs in its own process; peak RSS comes from wait4's rusage.
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

from client.api import TranscriptionApi
from client.cli import parse_bytes
from devhost.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run a process; return (wall seconds, peak RSS in bytes, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return seconds, usage.ru_maxrss * 1024, out.decode()


UPLOADERS = ("client", "sdk upload_blob md5", "client --no-checksum", "sdk upload_blob")


def upload_once(label: str, audio: Path, size: int, block_size: int, concurrency: int) -> tuple[float, int]:
    """One upload on a fresh stack, so every run starts from an empty Azurite and leaves no data behind."""
    with LocalStack() as stack:
        env = dict(os.environ, TRANSCRIBE_API_URL=stack.base_url, TRANSCRIBE_API_KEY=stack.function_key)
        if label.startswith("client"):
            extra = ["--no-checksum"] if "no-checksum" in label else []
            argv = [
                sys.executable,
                "-m",
                "client",
                "upload",
                str(audio),
                "--block-size",
                str(block_size),
                "--concurrency",
                str(concurrency),
                "--json",
                "--no-progress",
                *extra,
            ]
        else:
            api = TranscriptionApi(stack.base_url, stack.function_key)
            session = api.create_upload({"filename": audio.name, "size_bytes": size, "block_size_bytes": block_size})
            api.close()
            validate = "md5" if label.endswith("md5") else "none"
            argv = [
                sys.executable,
                str(ROOT / "bench" / "sdk_upload.py"),
                str(audio),
                session["upload"]["url"],
                str(block_size),
                str(concurrency),
                "audio/wav",
                validate,
            ]
        seconds, rss, _ = run_measured(argv, env)
    return seconds, rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=parse_bytes, default=parse_bytes("5G"))
    parser.add_argument("--block-size", type=parse_bytes, default=parse_bytes("8M"))
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    rows: dict[str, list[tuple[float, int]]] = {label: [] for label in UPLOADERS}
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        audio = Path(tmp) / "big.wav"
        with audio.open("wb") as f:
            f.truncate(args.size)
        for _ in range(args.rounds):
            for label in UPLOADERS:
                rows[label].append(upload_once(label, audio, args.size, args.block_size, args.concurrency))

    size_mib = args.size / 2**20
    best = {label: min(s for s, _ in runs) for label, runs in rows.items()}
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"file {size_mib:.0f} MiB (sparse), block {args.block_size / 2**20:.0f} MiB, "
        f"concurrency {args.concurrency}, best of {args.rounds}"
    )
    print(f"{'uploader':24} {'seconds':>8} {'MiB/s':>8} {'peak RSS MiB':>13} {'vs same-checksum sdk':>21}")
    for label in UPLOADERS:
        peak = max(r for _, r in rows[label]) / 2**20
        baseline = "sdk upload_blob md5" if label == "client" else "sdk upload_blob"
        ratio = f"{best[baseline] / best[label]:21.2f}" if label.startswith("client") else f"{'':21}"
        print(f"{label:24} {best[label]:8.1f} {size_mib / best[label]:8.1f} {peak:13.1f} {ratio}")
    print(json.dumps({k: [{"seconds": s, "peak_rss": r} for s, r in v] for k, v in rows.items()}))


if __name__ == "__main__":
    main()
