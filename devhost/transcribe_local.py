"""``scripts/transcribe AUDIO``: the main job on one machine, through the same public API customers use.

Today the pipeline stops once the upload is committed; transcription (blob trigger, orchestrator, workers)
arrives with the next issues and plugs in here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from client.api import ApiError, TranscriptionApi
from client.block_upload import UploadError
from client.uploads import upload_file
from devhost.stack import LocalStack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/transcribe", description=__doc__)
    parser.add_argument("audio", type=Path)
    parser.add_argument("--out", type=Path, help="where transcripts go (default ./transcripts/<name>/)")
    parser.add_argument("--language", help="ISO 639-1 code, or 'auto'")
    parser.add_argument("--workers", type=int, help="transcription workers (used once transcription lands)")
    args = parser.parse_args(argv)
    if not args.audio.is_file():
        print(f"error: {args.audio} is not a file", file=sys.stderr)
        return 2
    print("Starting the local stack (Azurite + devhost)...", file=sys.stderr, flush=True)
    with LocalStack() as stack:
        api = TranscriptionApi(stack.base_url, stack.function_key)
        try:
            result = upload_file(api, args.audio, language=args.language, show_progress=sys.stderr.isatty())
        except (ApiError, UploadError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            api.close()
    rate = result.size_bytes / result.seconds / 1024**2 if result.seconds else 0.0
    print(
        f"Upload committed: job {result.job_id}, {result.size_bytes} bytes "
        f"in {result.seconds:.1f} s ({rate:.0f} MiB/s)."
    )
    print("Transcription is not built yet (next issue): the upload is where this command stops today.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
