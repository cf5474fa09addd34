"""``scripts/transcribe AUDIO``: the main job on one machine, through the same public API customers use.

Starts Azurite, the devhost and workers laid out for the machine (``worker.layout``: on CPU one 1-thread process
per core with batch 8, memory permitting; on GPU one process per GPU with a batch sized to its memory;
``--workers``, ``--threads`` and ``--batch-size`` override each part); uploads AUDIO with the client; follows the
job's progress; writes ``transcript.{json,txt,srt,vtt}`` to ``--out`` (default ``./transcripts/<name>/``) and
prints the text. The stack keeps its state in ``.transcribe/<run>/`` until the job is done, so an interrupted run
(Ctrl-C, a crash, a slow service) is resumed with ``scripts/transcribe --resume .transcribe/<run>``: the upload
continues where it stopped and the job where its orchestration was.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from client.api import ApiError, TranscriptionApi
from client.block_upload import UploadError
from client.follow import follow_job
from client.uploads import upload_file
from devhost.stack import ROOT, LocalStack, worker_layout

FORMATS = ("json", "txt", "srt", "vtt")
# One folder per run until it finishes (the stack's state, so Ctrl-C loses nothing); tests point it elsewhere.
RUNS = Path(os.environ.get("TRANSCRIBE_RUNS_DIR") or ROOT / ".transcribe")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/transcribe", description=__doc__)
    parser.add_argument("audio", type=Path, nargs="?", help="the recording (not needed with --resume)")
    parser.add_argument("--out", type=Path, help="where transcripts go (default ./transcripts/<name>/)")
    parser.add_argument("--language", help="ISO 639-1 code, or 'auto' (default: the model's)")
    parser.add_argument(
        "--workers",
        type=int,
        help="worker processes (default from the machine: one per core on CPU as memory allows, one per GPU)",
    )
    parser.add_argument("--threads", type=int, help="CPU threads per worker (default: cores / workers, at least 1)")
    parser.add_argument(
        "--batch-size",
        type=int,
        help="audio chunks each worker decodes together; 1: one at a time (default: 8 on CPU, 8-64 by GPU memory)",
    )
    parser.add_argument("--model", default="tiny.en", help="model folder or bundled name (default tiny.en)")
    parser.add_argument("--window", type=float, default=300.0, help="segment length in seconds (default 300)")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="give up after this many seconds")
    parser.add_argument(
        "--timings", action="store_true", help="print where the job's time went, from its trace (as an operator sees)"
    )
    parser.add_argument(
        "--resume", type=Path, metavar="DIR", help="continue an interrupted run from its folder (with its layout)"
    )
    args = parser.parse_args(argv)
    if args.resume is None and args.audio is None:
        parser.error("give the recording to transcribe, or --resume DIR")
    return args


@dataclass
class Run:
    """What a run needs to be resumed: kept as ``run.json`` in its folder (which also holds the stack's state)."""

    folder: Path
    audio: Path
    out: Path
    language: str | None
    workers: int
    model: str
    window: float
    timings: bool
    job_id: str | None = None
    # The rest of the layout. A run saved before these were kept resumes with cores / workers threads and the
    # worker's own batch size.
    threads: int | None = None
    batch_size: int | None = None
    gpus: int = 0
    layout: str = ""  # the start-up line's description of it

    @classmethod
    def new(cls, args: argparse.Namespace) -> Run:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = RUNS / f"{stamp}-{args.audio.stem}"[:80]
        out = args.out or Path("transcripts") / args.audio.stem
        layout, line = worker_layout(
            args.model,
            workers=args.workers,
            threads=args.threads,
            batch_size=args.batch_size,
            names=("--workers", "--threads", "--batch-size"),
        )
        run = cls(
            folder,
            args.audio.resolve(),
            out,
            args.language,
            layout.processes,
            args.model,
            args.window,
            args.timings,
            threads=layout.threads,
            batch_size=layout.batch_size,
            gpus=layout.gpus,
            layout=line,
        )
        run.save()
        return run

    @classmethod
    def load(cls, folder: Path) -> Run:
        data = json.loads((folder / "run.json").read_text())
        return cls(**{**data, "folder": folder, "audio": Path(data["audio"]), "out": Path(data["out"])})

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items() if k != "folder"}
        (self.folder / "run.json").write_text(json.dumps(data, indent=2))

    def env(self) -> dict[str, str]:
        env = {
            "TRANSCRIBE_EXPECTED_WORKERS": str(self.workers),
            "TRANSCRIBE_MODEL": self.model,
            "TRANSCRIBE_SEGMENT_WINDOW_S": str(self.window),
            # A --window under the defaults' 30 s minimum (or 4x the 2 s overlap) lowers them with it.
            "TRANSCRIBE_SEGMENT_MIN_WINDOW_S": str(min(30.0, self.window)),
            "TRANSCRIBE_SEGMENT_OVERLAP_S": str(min(2.0, self.window / 4)),
        }
        if self.timings:
            env["TRANSCRIBE_TELEMETRY_DIR"] = str(self.folder / "telemetry")
        return env


def download(api: TranscriptionApi, job_id: str, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for ext in FORMATS:
        paths[ext] = out / f"transcript.{ext}"
        paths[ext].write_bytes(api.transcript(job_id, ext))
    return paths


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.resume is not None:
        if not (args.resume / "run.json").is_file():
            print(f"error: {args.resume} is not the folder of an interrupted run", file=sys.stderr)
            return 2
        run = Run.load(args.resume)
    elif not args.audio.is_file():
        print(f"error: {args.audio} is not a file", file=sys.stderr)
        return 2
    else:
        run = Run.new(args)
    try:
        job = transcribe(run, args.timeout)
    except KeyboardInterrupt:
        print(f"\nInterrupted. {_kept(run)}", file=sys.stderr)
        return 130
    except (ApiError, UploadError) as exc:
        failed = exc.problem.get("job_error_code") if isinstance(exc, ApiError) else None
        print(f"error: {failed + ': ' if failed else ''}{exc}", file=sys.stderr)
        if isinstance(exc, ApiError) and failed:  # the job's own end: nothing to resume
            shutil.rmtree(run.folder, ignore_errors=True)
            return 1
        print(_kept(run), file=sys.stderr)
        return 1
    except (httpx.HTTPError, TimeoutError, OSError) as exc:
        print(f"error: {type(exc).__name__}: {exc}. {_kept(run)}", file=sys.stderr)
        return 1
    result = job["result"]
    print((run.out / "transcript.txt").read_text(encoding="utf-8"), end="")
    print(
        f"\nJob {run.job_id}: {result['duration_s']:.1f} s of audio, {result['words']} words, language "
        f"{result['language']}, RTFx {result['rtfx']}; transcripts in {run.out}/",
        file=sys.stderr,
    )
    if run.timings:
        print_timings(run.folder / "telemetry", str(run.job_id))
    shutil.rmtree(run.folder, ignore_errors=True)  # done: nothing left to resume
    return 0


def transcribe(run: Run, timeout_s: float) -> dict[str, Any]:
    """Start (or restart, on the same state) the local stack, upload (or finish uploading), follow, download."""
    threads = run.threads or max(1, (os.cpu_count() or 1) // run.workers)
    show = sys.stderr.isatty()
    layout = run.layout or f"{run.workers} worker(s) x {threads} thread(s)"
    print(f"Starting the local stack: Azurite, devhost, {layout}...", file=sys.stderr)
    stack = LocalStack(
        env=run.env(),
        workers=run.workers,
        worker_threads=threads,
        worker_batch_size=run.batch_size,
        worker_gpus=run.gpus,
        workdir=run.folder / "stack",
    )
    with stack:
        api = TranscriptionApi(stack.base_url, stack.function_key)
        try:

            def remember(session: dict[str, Any]) -> None:
                run.job_id = str(session["job_id"])
                run.save()

            upload_file(
                api, run.audio, resume_job_id=run.job_id, language=run.language, show_progress=show, on_session=remember
            )
            job = follow_job(api, str(run.job_id), timeout_s, show)
            download(api, str(run.job_id), run.out)
            return job
        finally:
            api.close()


def _kept(run: Run) -> str:
    job = f"job {run.job_id}" if run.job_id else "the upload"
    return (
        f"The state of {job} is kept in {run.folder}; resume with: scripts/transcribe --resume {run.folder} "
        "(or delete that folder to drop the job)"
    )


def print_timings(folder: Path, job_id: str) -> None:
    from devhost.timings import breakdown, render
    from shared.telemetry_files import read_spans

    print(f"\nWhere the time went (spans in {folder}):", file=sys.stderr)
    print(render(breakdown(read_spans(folder), job_id)), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
