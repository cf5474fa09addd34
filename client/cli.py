"""``python -m client``: the customer's command line for the transcription service.

    python -m client upload talk.wav                 # new upload, progress bar, prints the job id
    python -m client upload talk.wav --resume JOB_ID # after an interruption: sends only the missing blocks
    python -m client upload-status JOB_ID            # what has arrived
    python -m client wait JOB_ID --out DIR           # wait for the transcript, then download it

The API address and key come from ``--api``/``--key`` or ``TRANSCRIBE_API_URL``/``TRANSCRIBE_API_KEY``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from client.api import ApiError, TranscriptionApi
from client.block_upload import FileChangedError, UploadError, UploadOptions
from client.follow import follow_job, languages_heard
from client.local_names import readable
from client.uploads import UploadResult, upload_file
from shared.transcripts.formats import EXTENSIONS

_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_bytes(text: str) -> int:
    """``8M``, ``512k``, ``1G`` or plain bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgKMG]?)i?[bB]?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 8M, 512k or 1G)")
    return int(float(match[1]) * _UNITS[match[2].lower()])


def language_list(text: str) -> list[str]:
    """``de,en,fr`` (spaces allowed) as a list; the service checks the codes."""
    codes = [code.strip() for code in text.split(",") if code.strip()]
    if not codes:
        raise argparse.ArgumentTypeError(f"not a list of language codes: {text!r} (try de,en,fr)")
    return codes


def add_language_options(parser: argparse.ArgumentParser) -> None:
    """``--language``, ``--language-candidates``, ``--translate``: what ``POST /api/uploads`` takes (docs/api.md)."""
    parser.add_argument("--language", help="the language spoken, to force it (ISO 639-1, e.g. de), or 'auto' to detect")
    parser.add_argument(
        "--language-candidates",
        type=language_list,
        metavar="CODES",
        help="detect among these only, e.g. de,en,fr (2 to 10; not with --language)",
    )
    parser.add_argument(
        "--translate",
        action="store_true",
        help="Whisper's translation to English instead of a transcript (a multilingual model only)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m client", description="Transcription service client")
    parser.add_argument("--api", default=os.environ.get("TRANSCRIBE_API_URL", "http://127.0.0.1:7071"))
    parser.add_argument("--key", default=os.environ.get("TRANSCRIBE_API_KEY"), help="function key")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("upload", help="upload an audio file (resumable)")
    up.add_argument("file", type=Path)
    up.add_argument("--resume", metavar="JOB_ID", help="continue an interrupted upload of the same file")
    add_language_options(up)
    up.add_argument(
        "--audio-stream",
        type=int,
        metavar="N",
        help="which audio stream to transcribe, from 0 (default: the file's default one with sound)",
    )
    up.add_argument("--concurrency", type=int, default=4, help="parallel Put Block calls (default 4)")
    up.add_argument("--block-size", type=parse_bytes, help="preferred block size, e.g. 16M (service may raise it)")
    up.add_argument("--limit-rate", type=parse_bytes, help="cap the upload rate, e.g. 20M (bytes per second)")
    up.add_argument("--no-checksum", action="store_true", help="skip the per-block Content-MD5")
    up.add_argument("--no-progress", action="store_true")
    up.add_argument("--json", action="store_true", help="print the result as JSON")

    st = sub.add_parser("upload-status", help="show what has arrived for an upload")
    st.add_argument("job_id")

    wt = sub.add_parser("wait", help="wait for a job (honouring Retry-After), then download its transcripts")
    wt.add_argument("job_id")
    wt.add_argument("--out", type=Path, help=f"folder for transcript.{{{','.join(EXTENSIONS)}}}")
    wt.add_argument("--timeout", type=float, default=24 * 3600)
    wt.add_argument("--json", action="store_true", help="print the finished job as JSON (with its read links)")
    return parser


def _wait(api: TranscriptionApi, args: argparse.Namespace) -> int:
    try:
        job = follow_job(api, args.job_id, args.timeout, show=sys.stderr.isatty() and not args.json)
    except TimeoutError as exc:
        print(f"error: {exc}; run the same command again to keep following it", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nStopped following; the job goes on. Follow it again with: python -m client wait {args.job_id}")
        return 130
    written = []
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for fmt in EXTENSIONS:
            path = args.out / f"transcript.{fmt}"
            path.write_bytes(api.transcript(args.job_id, fmt))
            written.append(path)
    print(json.dumps(job, indent=2) if args.json else summary(job, written))
    return 0


def summary(job: dict[str, Any], written: list[Path]) -> str:
    """A few lines a person reads: what was transcribed, and where it went (the links only with --json)."""
    result = job.get("result") or {}
    heard = languages_heard(result)
    translated = " (translated to English)" if result.get("task") == "translate" else ""
    lines = [
        f"Job {job.get('job_id')} {job.get('status')}: {float(result.get('duration_s') or 0):.1f} s of audio, "
        f"{result.get('words', 0)} words, language {result.get('language') or '?'}"
        + (f" ({heard})" if heard else "")
        + translated
    ]
    # What the transcript must not hide (issue 22): a file that held less than it declared, sound with no words.
    lines += [f"  warning {w.get('code')}: {w.get('message')}" for w in result.get("warnings") or []]
    lines += [f"  {path}" for path in written] or ["  transcripts: add --out DIR to download them, --json for links"]
    return "\n".join(lines)


def _print_result(result: UploadResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.__dict__))
        return
    rate = result.sent_bytes / result.seconds / 1024**2 if result.seconds else 0.0
    print(
        f"Uploaded {result.size_bytes} bytes as job {result.job_id} "
        f"({result.sent_bytes} sent, {result.resumed_bytes} already there, {rate:.1f} MiB/s)"
    )
    print(f"Status: {result.status_url}")


def _upload(api: TranscriptionApi, args: argparse.Namespace) -> int:
    shown = readable(str(args.file))  # a name that is not UTF-8 is still printable
    if not args.file.is_file():
        print(f"error: {shown} is not a file", file=sys.stderr)
        return 2
    job: dict[str, str] = {}

    def announce(session: dict[str, object]) -> None:
        job["id"] = str(session["job_id"])
        print(f"Job {job['id']}: upload {session['upload_state']}", file=sys.stderr, flush=True)

    options = UploadOptions(
        concurrency=max(1, args.concurrency), checksum=not args.no_checksum, bytes_per_second=args.limit_rate
    )
    try:
        result = upload_file(
            api,
            args.file,
            resume_job_id=args.resume,
            language=args.language,
            language_candidates=args.language_candidates,
            task="translate" if args.translate else "transcribe",
            block_size=args.block_size,
            audio_stream=args.audio_stream,
            options=options,
            show_progress=not args.no_progress and sys.stderr.isatty(),
            on_session=announce,
        )
    except KeyboardInterrupt:
        if "id" in job:
            print(
                f"\nInterrupted. Resume with: python -m client upload {shown} --resume {job['id']}",
                file=sys.stderr,
            )
        return 130
    except FileChangedError as exc:  # resuming would splice two versions: no --resume hint
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except UploadError as exc:
        hint = f"; resume with --resume {job['id']}" if "id" in job else ""
        print(f"error: {exc}{hint}", file=sys.stderr)
        return 1
    _print_result(result, args.json)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    api = TranscriptionApi(args.api, args.key)
    try:
        if args.command == "upload":
            return _upload(api, args)
        if args.command == "wait":
            return _wait(api, args)
        print(json.dumps(api.get_upload(args.job_id), indent=2))
        return 0
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        api.close()
