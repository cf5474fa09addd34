"""Accuracy and speed on real speech: the pipeline against single faster-whisper passes, in the same run.

    .venv/bin/python -m bench.real_speech_rtfx --rounds 3           # the 29.5-minute real-speech file
    .venv/bin/python -m bench.real_speech_rtfx --minutes 60 --rounds 1

The file is ``bench.real_speech``'s: 345 real utterances (telephone prompts at 8 kHz, read speech, spontaneous
speech, a 1961 speech, podcast clips) joined by pauses of 0.5-2 s. In each round, one after the other on an
otherwise idle machine, all with tiny.en int8, beam 5, VAD, word timestamps, no conditioning on previous text:

- **pipeline**: the one-machine stack with the layout ``worker/layout.py`` picks (one 1-thread worker per core);
  the job's time from the client's commit to the completed record (as ``bench/pipeline_rtfx.py`` measures it);
- **sequential**: ``WhisperModel.transcribe`` in one process with all cores: the careful single pass (its default
  temperature fallback included), the one to beat (issue 20);
- **batched B**: ``BatchedInferencePipeline`` with batch B in one process with all cores (faster-whisper's own
  batched mode: faster, and it drops whole utterances on this file).

Reported for each: median wall time over the rounds, RTFx, WER, the reference words deleted, and the utterances with
under half of their words found (``bench.real_speech.score``); for the pipeline also the stretches it reported as
untranscribed. Then the pipeline's speed ratio to the sequential pass (goal >= 1.25x at a WER no more than 0.5
point above it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.pipeline_rtfx import direct, pipeline
from bench.real_speech.fetch import DEFAULT_CACHE
from bench.real_speech.long_file import build
from bench.real_speech.score import utterance_recall
from bench.scale import cpu_model
from shared.contracts import Word
from tests.support.wer import edit_counts, words
from worker.layout import choose

LOST_BELOW = 0.5


def accuracy(run: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    reference = document["reference"]
    errors, deleted = edit_counts(reference, run["text"])
    heard = [Word(start=a, end=b, word=w, probability=1.0) for a, b, w in run["words"]]
    recalls = utterance_recall(document["utterances"], heard)
    lost = [r.id for r in recalls if r.recall < LOST_BELOW]
    return {
        "wer": round(errors / len(words(reference)), 4),
        "deleted": deleted,
        "utterances_lost": len(lost),
        "lost": lost[:20],
    }


def summary(runs: list[dict[str, Any]], document: dict[str, Any]) -> dict[str, Any]:
    seconds = statistics.median(r["seconds"] for r in runs)
    report = {
        "median_s": round(seconds, 1),
        "all_s": [round(r["seconds"], 1) for r in runs],
        "rtfx": round(document["duration_s"] / seconds, 1),
        **accuracy(runs[0], document),
    }
    if "untranscribed" in runs[0]:
        report["untranscribed"] = len(runs[0]["untranscribed"])
        report["untranscribed_s"] = round(sum(b - a for a, b in runs[0]["untranscribed"]), 1)
    return report


def measure(audio: Path, document: dict[str, Any], rounds: int, batches: list[int]) -> dict[str, Any]:
    cores, batch = os.cpu_count() or 1, choose("cpu").batch_size
    runs: dict[str, list[dict[str, Any]]] = {"pipeline": [], "sequential": [], **{f"batched {b}": [] for b in batches}}
    for _ in range(rounds):
        runs["pipeline"].append(pipeline(audio, batch))
        runs["sequential"].append(direct(audio, cores, 1))
        for b in batches:
            runs[f"batched {b}"].append(direct(audio, cores, b))
        print(json.dumps({k: round(v[-1]["seconds"], 1) for k, v in runs.items()}), file=sys.stderr, flush=True)
    report = {name: summary(r, document) for name, r in runs.items()}
    ours, theirs = report["pipeline"], report["sequential"]
    return {
        "minutes": round(document["duration_s"] / 60, 1),
        "utterances": len(document["utterances"]),
        "rounds": rounds,
        "pipeline_layout": runs["pipeline"][0]["layout"],
        "single_process": f"one process, {cores} threads",
        **report,
        "pipeline_speed_vs_sequential": round(theirs["median_s"] / ours["median_s"], 2),
        "pipeline_wer_minus_sequential": round(ours["wer"] - theirs["wer"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=None, help="repeat or cut the corpus (default: once)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batched", type=int, nargs="*", default=[2, 8], help="single-process batch sizes")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp:
        audio = build(args.cache, Path(tmp) / "real_speech.flac", minutes=args.minutes)
        document = json.loads(audio.with_suffix(".json").read_text(encoding="utf-8"))
        result = measure(audio, document, args.rounds, args.batched)
    print(json.dumps({"cpu": cpu_model(), "cores": os.cpu_count(), **result}, indent=2))


if __name__ == "__main__":
    main()
