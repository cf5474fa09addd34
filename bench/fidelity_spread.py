"""How much tiny.en's transcript moves on its own, measured so that the end-to-end tolerances rest on figures.

    .venv/bin/python -m bench.fidelity_spread --out /tmp/fidelity.json

The end-to-end tests compare the pipeline with one faster-whisper pass over the whole file. The two differ even
with a perfect stitcher, because each window gives the model other audio around a word (other 30 s context, other
frame alignment, other resampling of the same file). And the CI machine's CPU may differ from ours: CTranslate2
picks its int8 kernels by CPU vendor and instruction set (``bench/kernel_variants.py``), and each gives slightly
other numbers. This runs every such *kernel variant* this CPU can execute, each in its own process, and in each:

- the single pass on the file (the tests' baseline), and again with the audio shifted by a fraction of a second
  (digital silence in front, times shifted back): the same speech, so any change is the model's own spread;
- the pipeline's windows of each clip, transcribed in-process exactly as a worker does (production and short
  windowing, see ``tests/support/recording.py``) and stitched.

It prints, for each comparison kind, the worst case over variants and clips of what the tests bound: corpus WER
change, word count change (per clip and per seam), words unmatched, median drift, share within 0.3 s, worst
drift. ``tests/support/fidelity.py`` takes the end-to-end tolerances from these figures (docs/benchmarks.md has
the run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from bench.kernel_variants import REALISTIC, VARIANTS, cpu_model, run_each, variant_names

DEFAULT_SHIFTS = (0.013, 0.137, 0.25, 0.51)
OMP_DEFAULT = ["", "1", "4"]


def run_variant(shifts: list[float]) -> dict[str, Any]:
    """Everything for one kernel variant (the environment already says which): word lists per clip and run."""
    from shared.transcripts.stitching import stitch
    from tests.support.recording import CORPUS, DATA, PLANS, plan, single_pass, transcriber, window_results

    model = transcriber()
    out: dict[str, Any] = {}
    for clip in CORPUS:
        path = DATA / clip
        runs: dict[str, Any] = {"single": single_pass(model, path)}
        for shift in shifts:
            runs[f"shift {shift:g}"] = single_pass(model, path, shift)
        for name, settings in PLANS.items():
            info, windows = plan(path, **settings)
            segments, _ = stitch(window_results(model, path, info, windows), info.duration_s)
            runs[f"pipeline {name}"] = [w for s in segments for w in s.words]
            runs[f"seams {name}"] = [w.keep_start_s for w in windows[1:]]
        out[clip] = {k: v if k.startswith("seams") else [w.model_dump() for w in v] for k, v in runs.items()}
    return out


def analyse(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per comparison kind, the worst case over variants (and clips): what a tolerance has to absorb."""
    from tests.support.recording import CORPUS, DATA
    from tests.support.wer import errors, words

    reference_words = sum(len(words((DATA / text).read_text())) for text in CORPUS.values())
    rows: dict[str, dict[str, list[float]]] = {}
    for clips in _measured(results).values():
        kinds = [k for k in next(iter(clips.values())) if k != "single" and not k.startswith("seams")]
        single_errors = sum(errors((DATA / CORPUS[c]).read_text(), _text(r["single"])) for c, r in clips.items())
        for kind in kinds:
            row = rows.setdefault(kind, {})
            kind_errors = 0
            for clip, runs in clips.items():
                kind_errors += errors((DATA / CORPUS[clip]).read_text(), _text(runs[kind]))
                seams = runs.get(f"seams {kind.removeprefix('pipeline ')}", [])
                for name, value in _metrics(runs[kind], runs["single"], seams).items():
                    row.setdefault(name, []).append(value)
            row.setdefault("WER change", []).append((kind_errors - single_errors) / reference_words)
    summary: dict[str, Any] = {kind: _worst(row) for kind, row in rows.items()}
    return summary | {"corpus words": reference_words}


def cross_variant(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Single passes of two kernel variants compared: how far two CPUs' baselines are from each other."""
    measured = _measured(results)
    names = sorted(measured)
    row: dict[str, list[float]] = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            for clip in measured[a]:
                for name, value in _metrics(measured[a][clip]["single"], measured[b][clip]["single"], []).items():
                    row.setdefault(name, []).append(value)
    return _worst(row)


def _metrics(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], seams: list[float]) -> dict[str, float]:
    """The quantities tests/support/fidelity.py puts bounds on, for one clip."""
    from shared.contracts import Word
    from tests.support.fidelity import E2E_TOLERANCES, compare

    comparison = compare([Word.model_validate(w) for w in ours], [Word.model_validate(w) for w in theirs])
    near = [comparison.near([seam], E2E_TOLERANCES.seam_window_s) for seam in seams]
    return {
        "word count change": abs(comparison.words_ours - comparison.words_theirs),
        "word count change at a seam": max((abs(sum(d.count_change for d in n)) for n in near), default=0),
        "words unmatched": comparison.unmatched,
        "median drift s": abs(comparison.median_drift),
        "within 0.3 s": comparison.within(0.3),
        "max drift s": comparison.max_drift,
    }


def _worst(row: dict[str, list[float]]) -> dict[str, float]:
    """The worst value of each metric: the smallest share within 0.3 s, the largest of everything else."""
    return {name: round(min(v) if name == "within 0.3 s" else max(v), 4) for name, v in row.items()} | (
        {"best WER change": round(min(row["WER change"]), 4)} if "WER change" in row else {}
    )


def _measured(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {variant: clips for variant, clips in results.items() if "error" not in clips}


def _text(items: list[dict[str, Any]]) -> str:
    return " ".join(str(w["word"]).strip() for w in items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="*", default=REALISTIC, choices=list(VARIANTS))
    parser.add_argument("--omp", nargs="*", default=OMP_DEFAULT, help="OMP_NUM_THREADS values ('' = unset)")
    parser.add_argument("--shifts", nargs="*", type=float, default=list(DEFAULT_SHIFTS))
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, help="write every word list and the analysis here (JSON)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # internal: run one variant
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_variant(args.shifts)))
        return
    started = time.perf_counter()
    variants = variant_names(args.variants, args.omp)
    found = run_each("bench.fidelity_spread", ["--shifts", *map(str, args.shifts)], variants, args.parallel)
    for variant, clips in found.items():
        if "error" in clips:
            print(f"{variant}: not run here ({clips['error']})")
    report = {
        "machine": cpu_model(),
        "python": platform.python_version(),
        "seconds": round(time.perf_counter() - started, 1),
        "variants": [v for v, c in found.items() if "error" not in c],
        "against single pass": analyse(found),
        "single pass, variant against variant": cross_variant(found),
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps({"report": report, "runs": found}))


if __name__ == "__main__":
    main()
