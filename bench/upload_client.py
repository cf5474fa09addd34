"""Client upload benchmark: peak RSS and throughput of ``python -m client upload`` against Azurite, compared
with azure-storage-blob's ``BlobClient.upload_blob`` at the same block size and concurrency, in the same run.

    .venv/bin/python bench/upload_client.py --size 5G --block-size 8M --concurrency 4 --rounds 2

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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from azure.storage.blob import BlobServiceClient  # noqa: E402

from client.api import TranscriptionApi  # noqa: E402
from client.cli import parse_bytes  # noqa: E402
from devhost.stack import LocalStack  # noqa: E402


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


def drop_uploads(service: BlobServiceClient) -> None:
    container = service.get_container_client("uploads")
    for blob in container.list_blobs():
        container.delete_blob(blob.name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=parse_bytes, default=parse_bytes("5G"))
    parser.add_argument("--block-size", type=parse_bytes, default=parse_bytes("8M"))
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp, LocalStack() as stack:
        audio = Path(tmp) / "big.wav"
        with audio.open("wb") as f:
            f.truncate(args.size)
        env = dict(os.environ, TRANSCRIBE_API_URL=stack.base_url, TRANSCRIBE_API_KEY=stack.function_key)
        api = TranscriptionApi(stack.base_url, stack.function_key)
        service = BlobServiceClient.from_connection_string(stack.connection_string)
        common = [
            "--block-size",
            str(args.block_size),
            "--concurrency",
            str(args.concurrency),
            "--json",
            "--no-progress",
        ]
        rows: dict[str, list[tuple[float, int]]] = {
            "client": [],
            "sdk upload_blob md5": [],
            "client --no-checksum": [],
            "sdk upload_blob": [],
        }
        for _ in range(args.rounds):
            for label, extra in (("client", []), ("client --no-checksum", ["--no-checksum"])):
                argv = [sys.executable, "-m", "client", "upload", str(audio), *common, *extra]
                seconds, rss, _ = run_measured(argv, env)
                rows[label].append((seconds, rss))
                drop_uploads(service)
            for label, validate in (("sdk upload_blob md5", "md5"), ("sdk upload_blob", "none")):
                session = api.create_upload(
                    {"filename": "big.wav", "size_bytes": args.size, "block_size_bytes": args.block_size}
                )
                argv = [
                    sys.executable,
                    str(ROOT / "bench" / "sdk_upload.py"),
                    str(audio),
                    session["upload"]["url"],
                    str(args.block_size),
                    str(args.concurrency),
                    "audio/wav",
                    validate,
                ]
                seconds, rss, _ = run_measured(argv, env)
                rows[label].append((seconds, rss))
                drop_uploads(service)
        api.close()

    size_mib = args.size / 2**20
    best = {label: min(s for s, _ in runs) for label, runs in rows.items()}
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"file {size_mib:.0f} MiB, block {args.block_size / 2**20:.0f} MiB, concurrency {args.concurrency}, "
        f"rounds {args.rounds} (best of)"
    )
    print(f"{'uploader':24} {'seconds':>8} {'MiB/s':>8} {'peak RSS MiB':>13} {'vs same-checksum sdk':>21}")
    for label, runs in rows.items():
        peak = max(r for _, r in runs) / 2**20
        baseline = "sdk upload_blob md5" if label == "client" else "sdk upload_blob"
        ratio = best[baseline] / best[label]
        print(f"{label:24} {best[label]:8.1f} {size_mib / best[label]:8.1f} {peak:13.1f} {ratio:21.2f}")
    print(json.dumps({k: [{"seconds": s, "peak_rss": r} for s, r in v] for k, v in rows.items()}))


if __name__ == "__main__":
    main()
