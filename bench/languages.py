"""Languages on real speech: detection and accuracy per language, a recording that switches language, and what
detecting per stretch costs. Whisper base (multilingual, int8 on CPU), in one process, one after the other.

    .venv/bin/python -m bench.languages --rounds 3 --threads 2

1. **Each real clip** of ``tests/data/real/lang`` and ``tests/data/real`` (11 languages, human references): the
   language detected and the WER (CER for Chinese and Japanese) of a single faster-whisper pass over the clip (the
   worker's decoding options; Whisper detects on the first 30 s) and of the worker's engine on the clip as one
   window (per-stretch detection), per language.
2. **The switching recording** (``tests/support/languages.py``: German, English, Spanish, Chinese, French, 97 s):
   per section, the error rate and the share of its words labelled with its language, for the engine over the
   whole recording as one window, the same engine detecting one language per window (as before issue 24), and a
   single pass over the section alone (the reference point: what a caller who cut the file by hand would get).
3. **Cost**: the engine over the 121 s English real-speech recording (``tests/support/real_speech.py``) detecting
   per stretch against the language forced, median of ``--rounds``; the ratio is the price of detection.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from bench.report import emit
from bench.scale import cpu_model
from shared.contracts import Window
from tests.support import languages as lang
from tests.support.real_speech import recording as english_recording
from tests.support.recording import OPTIONS
from worker.engines.base import Languages, ModelSpec
from worker.engines.whisper import Transcriber


def whole(samples: Any) -> Window:
    end = len(samples) / lang.RATE
    return Window(index=0, start_s=0.0, end_s=end, keep_start_s=0.0, keep_end_s=end)


def single_pass(model: Transcriber, samples: Any) -> tuple[str, str]:
    pieces, info = model._model.transcribe(samples, **OPTIONS)
    return info.language, " ".join(p.text for p in pieces)


def clips_table(model: Transcriber) -> list[dict[str, Any]]:
    rows = []
    for clip, reference in lang.references().items():
        language = "en" if not clip.startswith("lang/") else _language_of(clip)
        samples = lang.load(clip)
        detected, text = single_pass(model, samples)
        heard = model.transcribe(samples, whole(samples), Languages())
        ours = " ".join(s.text for s in heard.segments)
        rows.append(
            {
                "clip": clip,
                "language": language,
                "seconds": round(len(samples) / lang.RATE, 2),
                "single_detected": detected,
                "single_error": round(lang.error_rate(reference, text, language), 4),
                "engine_detected": heard.language,
                "engine_error": round(lang.error_rate(reference, ours, language), 4),
                "tokens": len(lang.tokens(reference, language)),
            }
        )
    return rows


def _language_of(clip: str) -> str:
    import json

    entries = json.loads((lang.DATA / "lang" / "clips.json").read_text())
    return next(c["language"] for c in entries if f"lang/{c['file']}" == clip)


def sections(model: Transcriber, samples: Any, found: list[lang.Section], label: str) -> list[dict[str, Any]]:
    heard = model.transcribe(samples, whole(samples), Languages())
    rows = []
    for section in found:
        mine = [s for s in heard.segments if section.start - 0.3 <= (s.start + s.end) / 2 <= section.end + 0.3]
        words = [w for s in mine for w in s.words]
        right = sum(1 for w in words if w.language == section.language)
        text = " ".join(s.text for s in mine)
        rows.append(
            {
                "run": label,
                "section": section.language,
                "error": round(lang.error_rate(section.reference, text, section.language), 4),
                "labelled_right": round(right / max(len(words), 1), 3),
            }
        )
    return rows


def alone(model: Transcriber, samples: Any, found: list[lang.Section]) -> list[dict[str, Any]]:
    rows = []
    for section in found:
        part = samples[round(section.start * lang.RATE) : round(section.end * lang.RATE)]
        detected, text = single_pass(model, part)
        error = lang.error_rate(section.reference, text, section.language)
        rows.append({"run": "single pass, section alone", "section": section.language, "error": round(error, 4),
                     "labelled_right": 1.0 if detected == section.language else 0.0})  # fmt: skip
    return rows


def cost(model: Transcriber, rounds: int) -> dict[str, Any]:
    samples, _ = english_recording()
    times: dict[str, list[float]] = {"detected": [], "forced": []}
    for _ in range(rounds):
        for label, asked in (("detected", Languages()), ("forced", Languages(forced="en"))):
            started = time.perf_counter()
            model.transcribe(samples, whole(samples), asked)
            times[label].append(time.perf_counter() - started)
    medians = {k: statistics.median(v) for k, v in times.items()}
    return {
        "audio_s": round(len(samples) / lang.RATE, 1),
        "median_s": {k: round(v, 2) for k, v in medians.items()},
        "all_s": {k: [round(x, 2) for x in v] for k, v in times.items()},
        "detection_cost": round(medians["detected"] / medians["forced"] - 1, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--clips-per-section", type=int, default=2, help="1: the tests' 57 s recording")
    parser.add_argument("--only-switching", action="store_true", help="skip the clips and the cost")
    args = parser.parse_args()
    model = Transcriber(ModelSpec(model="base", device="cpu", compute_type="int8", cpu_threads=args.threads))
    clips = [] if args.only_switching else clips_table(model)
    samples, found = lang.switching(args.clips_per_section)
    switching = sections(model, samples, found, "engine, per stretch")
    old = Transcriber(ModelSpec(model="base", device="cpu", compute_type="int8", cpu_threads=args.threads))
    lang.one_language_per_window(old)
    switching += sections(old, samples, found, "engine, one language per window")
    switching += alone(model, samples, found)
    spent = {} if args.only_switching else cost(model, args.rounds)
    report = {"cpu": cpu_model(), "threads": args.threads, "clips": clips, "switching": switching, "cost": spent}
    emit(report, args.out, _table(report))


def _table(report: dict[str, Any]) -> str:
    by: dict[str, list[dict[str, Any]]] = {}
    for row in report["clips"]:
        by.setdefault(row["language"], []).append(row)
    lines = ["| language | clips | s | detected right (single / engine) | error single | error engine |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for code, rows in sorted(by.items()):
        n = sum(r["tokens"] for r in rows)
        single = sum(r["single_error"] * r["tokens"] for r in rows) / n
        engine = sum(r["engine_error"] * r["tokens"] for r in rows) / n
        right_single = sum(r["single_detected"] == code for r in rows)
        right_engine = sum(r["engine_detected"] == code for r in rows)
        seconds = sum(r["seconds"] for r in rows)
        lines.append(f"| {code} | {len(rows)} | {seconds:.0f} | {right_single}/{len(rows)} / {right_engine}/{len(rows)}"
                     f" | {single:.3f} | {engine:.3f} |")  # fmt: skip
    lines += ["", "| run | " + " | ".join(s for s, _ in lang.SECTIONS) + " |", "|---|" + "---|" * len(lang.SECTIONS)]
    runs: dict[str, list[dict[str, Any]]] = {}
    for row in report["switching"]:
        runs.setdefault(row["run"], []).append(row)
    for run, rows in runs.items():
        cells = " | ".join(f"{r['error']:.3f} ({r['labelled_right']:.0%})" for r in rows)
        lines.append(f"| {run} | {cells} |")
    if c := report["cost"]:
        lines.append(f"\ndetection cost: {c['median_s']} median s over {c['audio_s']} s, +{c['detection_cost']:.1%}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
