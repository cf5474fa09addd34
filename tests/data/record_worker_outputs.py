"""Record real worker outputs for the stitching tests: ``.venv/bin/python -m tests.data.record_worker_outputs``.

For each case below, the clip's windows are transcribed exactly as a worker does (probe, ``read_window``,
``Transcriber.transcribe``; tiny.en int8, one thread) and saved with a single faster-whisper pass over the whole
file, to ``tests/data/worker_outputs/<case>.json``. ``tests/unit/test_stitching_recorded.py`` stitches these and
checks the result exactly, with no model in the loop, so its expectations hold on any CPU.

Each case runs in its own process with its kernels pinned (oneDNN, AVX2 both in CTranslate2 and in oneDNN's own
dispatch, one OpenMP thread: ``PINNED_KERNELS``), which every x86-64 CPU since 2013 runs, so a rerun on another
machine should give the same bytes. Rerun it when the worker's transcription changes
(model, decoding options, decode path), then re-check the expectations in the test: the script prints each seam's
neighbourhood and every difference from the single pass.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

# The kernels, pinned before CTranslate2 loads (each case runs in its own process): oneDNN (not MKL), CTranslate2's
# and oneDNN's AVX2 code paths, and one OpenMP thread (its default is one per core, which changes the numbers).
PINNED_KERNELS = {"CT2_USE_MKL": "0", "CT2_FORCE_CPU_ISA": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1"}

OUT = Path(__file__).resolve().parent / "worker_outputs"
PRODUCTION = {"window_s": 300.0, "overlap_s": 2.0, "min_window_s": 30.0, "workers": 2}
SHORT = {"window_s": 20.0, "overlap_s": 1.5, "min_window_s": 8.0, "workers": 2}
DENSE = {"window_s": 10.0, "overlap_s": 1.5, "min_window_s": 8.0, "workers": 2}
# case -> (clip, windowing, start each window in a pause, kernels). "production" is what customers get with 2
# workers; "short" is the e2e seam test's windowing; "dense" cuts every 10 s (one seam in a pause, the rest
# mid-sentence). "long-dense-mid-word" gives the model each whole window, as workers did before worker/edges.py:
# its window 1 starts inside "picnic" and skips "Please find a seat and turn off your phone" (with these kernels;
# with half of the kernel and thread settings tried it does), the case the stitcher's hole filling exists for.
CASES: dict[str, tuple[str, dict[str, Any], bool, dict[str, str]]] = {
    "long-production": ("long.flac", PRODUCTION, True, PINNED_KERNELS),
    "long-short": ("long.flac", SHORT, True, PINNED_KERNELS),
    "long-dense": ("long.flac", DENSE, True, PINNED_KERNELS),
    "long-dense-mid-word": ("long.flac", DENSE, False, PINNED_KERNELS),
    "speech-dense": ("speech_16k_mono.wav", DENSE, True, PINNED_KERNELS),
    "long-production-batched": ("long.flac", PRODUCTION, True, PINNED_KERNELS),
    "long-short-batched": ("long.flac", SHORT, True, PINNED_KERNELS),
    "long-dense-batched": ("long.flac", DENSE, True, PINNED_KERNELS),
}
# Cases whose windows go through the batched pipeline (the workers' default since the worker-throughput issue),
# with this batch size; the single pass recorded beside them stays the sequential one the other cases compare with.
BATCHED = {"long-production-batched": 2, "long-short-batched": 2, "long-dense-batched": 2}


def record(case: str) -> dict[str, Any]:
    import ctranslate2
    import faster_whisper

    from tests.support.recording import DATA, plan, single_pass, transcriber, window_results

    clip, planning, start_in_pause, kernels = CASES[case]
    model = transcriber(batch_size=BATCHED.get(case, 1))
    info, windows = plan(DATA / clip, **planning)
    results = window_results(model, DATA / clip, info, windows, start_in_pause=start_in_pause)
    return {
        "clip": clip,
        "planning": planning,
        "start_in_pause": start_in_pause,
        "audio": info.model_dump(),
        "recorded_with": {
            "faster_whisper": faster_whisper.__version__,
            "ctranslate2": ctranslate2.__version__,
            "kernels": kernels,
            "machine": platform.machine(),
        },
        "windows": [r.model_dump(mode="json") for r in results],
        "batch_size": model.batch_size,
        "single_pass": [w.model_dump(mode="json") for w in single_pass(model, DATA / clip)],
    }


def describe(case: str, recorded: dict[str, Any]) -> None:
    """What a maintainer re-checks after recording: the text around each seam and every difference."""
    from shared.stitching import stitch

    from shared.contracts import SegmentResult, Word
    from tests.support.fidelity import compare

    results = [SegmentResult.model_validate(r) for r in recorded["windows"]]
    segments, _ = stitch(results, recorded["audio"]["duration_s"])
    ours = [w for s in segments for w in s.words]
    print(f"== {case}")
    for result in results[1:]:
        seam = result.window.keep_start_s
        around = [w.word.strip() for w in ours if abs((w.start + w.end) / 2 - seam) < 2.0]
        print(f"   seam {seam:7.2f}: {' '.join(around)}")
    print("  ", compare(ours, [Word.model_validate(w) for w in recorded["single_pass"]]).summary())


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":  # in a process of its own, kernels already pinned
        case = sys.argv[2]
        (OUT / f"{case}.json").write_text(json.dumps(record(case), indent=1, sort_keys=True) + "\n")
        return
    OUT.mkdir(exist_ok=True)
    for case in sys.argv[1:] or CASES:
        env = {**os.environ, **CASES[case][3], "HF_HUB_OFFLINE": "1"}
        subprocess.run([sys.executable, "-m", "tests.data.record_worker_outputs", "--one", case], env=env, check=True)
        describe(case, json.loads((OUT / f"{case}.json").read_text()))


if __name__ == "__main__":
    main()
