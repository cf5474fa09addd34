"""``scripts/transcribe AUDIO``: the main job on one machine, through the same public API customers use.

Starts Azurite, the devhost and N workers; uploads AUDIO with the client; follows the job's progress; writes
``transcript.{json,txt,srt,vtt}`` to ``--out`` (default ``./transcripts/<name>/``) and prints the text.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from client.api import ApiError, TranscriptionApi
from client.block_upload import UploadError
from client.uploads import upload_file
from devhost.stack import LocalStack

FORMATS = ("json", "txt", "srt", "vtt")


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
    parser.add_argument(
        "--timings", action="store_true", help="print where the job's time went, from its trace (as an operator sees)"
    )
    return parser.parse_args(argv)


def follow(api: TranscriptionApi, job_id: str, timeout_s: float, show: bool) -> dict[str, Any]:
    """Poll the public job status like any customer, honouring Retry-After (capped, for a local run)."""
    deadline = time.monotonic() + timeout_s
    with tqdm(total=100.0, unit="%", disable=not show, file=sys.stderr, bar_format="{l_bar}{bar}| {postfix}") as bar:
        while time.monotonic() < deadline:
            finished, job, retry_after = api.get_job(job_id)
            if finished:
                bar.n = 100.0
                return job
            progress = job.get("progress") or {}
            bar.n = float(progress.get("percent") or 0.0)
            eta = progress.get("eta_s")
            bar.set_postfix_str(
                f"{job['status']} {progress.get('segments_done', 0)}/"
                f"{progress.get('segments_total', '?')} segments" + (f", ETA {eta:.0f} s" if eta is not None else "")
            )
            bar.refresh()
            time.sleep(min(retry_after, 1.0))
    raise TimeoutError(f"job {job_id} did not finish within {timeout_s:.0f} s")


def download(api: TranscriptionApi, job_id: str, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for ext in FORMATS:
        paths[ext] = out / f"transcript.{ext}"
        paths[ext].write_bytes(api.transcript(job_id, ext))
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
    spans_dir = Path(tempfile.mkdtemp(prefix="transcribe-telemetry-")) if args.timings else None
    if spans_dir is not None:
        env["TRANSCRIBE_TELEMETRY_DIR"] = str(spans_dir)
    show = sys.stderr.isatty()
    print(f"Starting the local stack: Azurite, devhost, {workers} worker(s) x {threads} thread(s)...", file=sys.stderr)
    with LocalStack(env=env, workers=workers, worker_threads=threads) as stack:
        api = TranscriptionApi(stack.base_url, stack.function_key)
        try:
            job_id = upload_file(api, args.audio, language=args.language, show_progress=show).job_id
            job = follow(api, job_id, args.timeout, show)
            out = args.out or Path("transcripts") / args.audio.stem
            paths = download(api, job_id, out)
        except (ApiError, UploadError) as exc:
            failed = exc.problem.get("job_error_code") if isinstance(exc, ApiError) else None
            print(f"error: {failed + ': ' if failed else ''}{exc}", file=sys.stderr)
            return 1
        finally:
            api.close()
    result = job["result"]
    print(paths["txt"].read_text(encoding="utf-8"), end="")
    print(
        f"\nJob {job_id}: {result['duration_s']:.1f} s of audio, {result['words']} words, language "
        f"{result['language']}, RTFx {result['rtfx']}; transcripts in {out}/",
        file=sys.stderr,
    )
    if spans_dir is not None:
        print_timings(spans_dir, job_id)
    return 0


def print_timings(folder: Path, job_id: str) -> None:
    from devhost.timings import breakdown, render
    from shared.telemetry_files import read_spans

    print(f"\nWhere the time went (spans in {folder}):", file=sys.stderr)
    print(render(breakdown(read_spans(folder), job_id)), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
