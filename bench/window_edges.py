"""Does starting each window in a pause (worker/pre/edges.py) help? Word errors with and without it, same run.

    .venv/bin/python -m bench.window_edges

The test clips are cut into windows of 8-30 s (2 s overlap, so every seam but a few falls mid-sentence), each
window transcribed in-process as a worker does, once with the audio starting and ending at the quietest stretch of
the overlap and once with the whole window, and stitched. Word errors against the spoken text, per CPU kernel
variant (bench/kernel_variants.py), summed over every clip and window length.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from bench.kernel_variants import REALISTIC, VARIANTS, cpu_model, run_each, variant_names

CLIPS = ("long.flac", "speech_16k_mono.wav", "speech.opus")
WINDOWS_S = (8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0)
OMP_DEFAULT = ["", "1"]


def run_variant() -> dict[str, Any]:
    from shared.transcripts.stitching import stitch
    from tests.support.recording import CORPUS, DATA, plan, transcriber, window_results
    from tests.support.wer import errors

    model = transcriber()
    out: dict[str, Any] = {}
    for clip in CLIPS:
        reference = (DATA / CORPUS[clip]).read_text()
        for window_s in WINDOWS_S:
            info, windows = plan(DATA / clip, window_s=window_s, overlap_s=2.0, min_window_s=8.0, workers=1)
            if len(windows) < 2:
                continue
            for in_pause in (True, False):
                results = window_results(model, DATA / clip, info, windows, start_in_pause=in_pause)
                _, text = stitch(results, info.duration_s)
                out[f"{clip} {window_s:g}s {'pause' if in_pause else 'whole'}"] = errors(reference, text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="*", default=REALISTIC, choices=list(VARIANTS))
    parser.add_argument("--omp", nargs="*", default=OMP_DEFAULT, help="OMP_NUM_THREADS values ('' = unset)")
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # internal: run one variant
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_variant()))
        return
    found = run_each("bench.window_edges", [], variant_names(args.variants, args.omp), args.parallel)
    summary: dict[str, Any] = {"machine": cpu_model()}
    for variant, errors in found.items():
        if "error" in errors:
            summary[variant] = errors
            continue
        pause = sum(v for k, v in errors.items() if k.endswith("pause"))
        whole = sum(v for k, v in errors.items() if k.endswith("whole"))
        summary[variant] = {"errors, start in a pause": pause, "errors, whole window": whole, "per case": errors}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
