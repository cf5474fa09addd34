"""``scripts/transcribe AUDIO``: the main job on one machine, through the same public API customers use.

Starts Azurite, the devhost and N workers; uploads AUDIO with the client; follows the job's progress; writes
``transcript.{json,txt,srt,vtt}`` to ``--out`` (default ``./transcripts/<name>/``) and prints the text.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from azure.storage.blob import BlobServiceClient
from tqdm import tqdm

from client.api import ApiError, TranscriptionApi
from client.block_upload import UploadError
from client.uploads import upload_file
from devhost.stack import LocalStack

FORMATS = ("json", "txt", "srt", "vtt")
HOOK = "/runtime/webhooks/durabletask/instances"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(prog="scripts/transcribe", description=__doc__)
    parser.add_argument("audio", type=Path)
    parser.add_argument("--out", type=Path, help="where transcripts go (default ./transcripts/<name>/)")
    parser.add_argument("--language", help="ISO 639-1 code, or 'auto' (default: the model's)")
    parser.add_argument("--workers", type=int, default=cores, help=f"worker processes (default: one per core, {cores})")
    parser.add_argument("--model", default="tiny.en", help="model folder or bundled name (default tiny.en)")
    parser.add_argument("--window", type=float, default=300.0, help="segment length in seconds (default 300)")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="give up after this many seconds")
    return parser.parse_args(argv)


def follow(http: httpx.Client, job_id: str, timeout_s: float, show: bool) -> dict[str, Any]:
    """Poll the orchestration until it ends, with a progress bar fed by its custom status."""
    deadline = time.monotonic() + timeout_s
    with tqdm(total=100.0, unit="%", disable=not show, file=sys.stderr, bar_format="{l_bar}{bar}| {postfix}") as bar:
        while time.monotonic() < deadline:
            response = http.get(f"{HOOK}/{job_id}")
            if response.status_code == 200:
                return dict(response.json())
            if response.status_code == 202:
                status = response.json().get("customStatus") or {}
                bar.n = float(status.get("percent") or 0.0)
                eta = status.get("eta_s")
                bar.set_postfix_str(
                    f"{status.get('stage', 'queued')} {status.get('segments_done', 0)}/"
                    f"{status.get('segments_total', '?')} segments" + (f", ETA {eta:.0f} s" if eta is not None else "")
                )
            time.sleep(0.5)
    raise TimeoutError(f"job {job_id} did not finish within {timeout_s:.0f} s")


def download(connection_string: str, job_id: str, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    container = BlobServiceClient.from_connection_string(connection_string).get_container_client("results")
    paths = {}
    for ext in FORMATS:
        path = out / f"transcript.{ext}"
        with path.open("wb") as handle:
            container.download_blob(f"{job_id}/transcript.{ext}").readinto(handle)
        paths[ext] = path
    return paths


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.audio.is_file():
        print(f"error: {args.audio} is not a file", file=sys.stderr)
        return 2
    workers = max(1, args.workers)
    threads = max(1, (os.cpu_count() or 1) // workers)
    env = {
        "TRANSCRIBE_EXPECTED_WORKERS": str(workers),
        "TRANSCRIBE_MODEL": args.model,
        "TRANSCRIBE_SEGMENT_WINDOW_S": str(args.window),
    }
    show = sys.stderr.isatty()
    print(f"Starting the local stack: Azurite, devhost, {workers} worker(s) x {threads} thread(s)...", file=sys.stderr)
    with LocalStack(env=env, workers=workers, worker_threads=threads) as stack:
        api = TranscriptionApi(stack.base_url, stack.function_key)
        try:
            uploaded = upload_file(api, args.audio, language=args.language, show_progress=show)
        except (ApiError, UploadError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            api.close()
        with httpx.Client(base_url=stack.base_url, timeout=30) as http:
            final = follow(http, uploaded.job_id, args.timeout, show)
        if final["runtimeStatus"] != "Completed":
            print(
                f"error: job {uploaded.job_id} {final['runtimeStatus'].lower()}: {final.get('output')}", file=sys.stderr
            )
            return 1
        out = args.out or Path("transcripts") / args.audio.stem
        paths = download(stack.connection_string, uploaded.job_id, out)
    summary = final["output"]
    print(paths["txt"].read_text(encoding="utf-8"), end="")
    print(
        f"\nJob {uploaded.job_id}: {summary['duration_s']:.1f} s of audio, {summary['words']} words, "
        f"language {summary['language']}; transcripts in {out}/",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
