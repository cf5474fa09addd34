"""Same input, same output, on damaged audio (issue 14, item 3), and no invented repeated text.

A corrupted Opus file once came back with 28 s of repeated made-up text, and right on a rerun. Two causes were
found, and these tests hold each fixed:

- **Decoding placed damaged Ogg audio by where the read began.** libsndfile dropped the pages whose CRC failed and
  returned the audio after them that much early, until a later read call put it back, so seconds of speech came
  twice and which seconds depended on the window plan and read size (``speech.opus`` with 4 KB overwritten at
  50 %: 3 s early from 10 s to 16.4 s, then 16.4-19.4 s again: "They gave the dog some food" twice). Ogg now goes
  to FFmpeg, which places packets by granule position and fills the hole with silence.
- **Sampling.** faster-whisper's default falls back to temperatures 0.2-1.0 when a chunk's text looks like a loop,
  and CTranslate2's sampler is seeded from ``std::random_device`` per thread: the same audio came back as a
  "1,000,000,000,..." loop in one process and "hmm" in the next. The worker now decodes at temperature 0 only, and
  :mod:`worker.post.repetition` cuts the loops the fallback was for.

The transcriptions run in child processes (``python -m tests.faults.test_reproducible``), each doing what a worker
does for every window (probe, ``read_window``, ``Transcriber.transcribe``) with tiny.en on one thread, the layout's
CPU default, the bytes coming through the worker's range reader.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shared.audio.pcm import SAMPLE_RATE

from shared.audio.blob_reader import BlobRangeReader
from shared.audio.decode import read_window
from shared.audio.probe import probe
from shared.contracts import AudioInfo, Segment, SegmentResult, Window
from shared.transcripts.stitching import stitch
from shared.transcripts.windows import plan_windows
from tests.support.recording import transcribed
from worker.post.repetition import find_loops

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parent.parent / "data"
SEED = 14
DAMAGE_BYTES = 4096
PLANS: dict[str, dict[str, Any]] = {  # what 2 workers get, and short windows whose seams fall in and near the damage
    "production": {"window_s": 300.0, "overlap_s": 2.0, "min_window_s": 30.0, "workers": 2},
    "short": {"window_s": 10.0, "overlap_s": 1.5, "min_window_s": 8.0, "workers": 2},
}
# (input, batch size, plans): the batched pipeline is the workers' CPU default, batch 1 the sequential decoder.
# "backwards" is speech_16k_mono.wav reversed: speech the model cannot make out, which sends tiny.en into loops at
# temperature 0 and, with faster-whisper's default sampling fallback, gave other text in every process (measured).
RUNS: list[tuple[str, int, tuple[str, ...]]] = [
    ("damaged speech.opus", 2, ("production", "short")),
    ("damaged speech.opus", 1, ("production",)),
    ("damaged speech.mp3", 2, ("production",)),
    ("backwards", 2, ("production",)),
    ("backwards", 1, ("production",)),
    ("speech.opus", 2, ("production",)),
]


def damaged(clip: str) -> bytes:
    """``clip`` with 4 KB of seeded random bytes over its middle: what a bad sector or a broken transfer leaves."""
    data = bytearray((DATA / clip).read_bytes())
    at = len(data) // 2
    data[at : at + DAMAGE_BYTES] = random.Random(SEED).randbytes(DAMAGE_BYTES)
    return bytes(data)


class _Blob:
    """The part of a ``BlobClient`` the worker's range reader uses: the bytes are all there is of Azure here."""

    def __init__(self, data: bytes) -> None:
        self.data, self.blob_name = data, "uploads/job/damaged"

    def download_blob(self, offset: int, length: int, **_: Any) -> Any:
        return _Download(self.data[offset : offset + length])


class _Download:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def readall(self) -> bytes:
        return self.data


def reader(data: bytes) -> BlobRangeReader:
    """The worker's reader with small chunks, so that the decoders' reads cross many range requests."""
    return BlobRangeReader(_Blob(data), size=len(data), chunk_size=64 * 1024)  # type: ignore[arg-type]


# --- the child: one process's transcriptions ------------------------------------------------------------------------


def transcribe_all() -> dict[str, Any]:
    """Every run of ``RUNS``: each window's decoded samples (a hash), what the worker would write for it, and how many
    repetition loops the guard cut (from its log lines, which must carry the job id)."""
    from shared.telemetry.logs import log_context
    from worker.engines.whisper import ModelSpec, Transcriber

    cuts = _Cuts()
    guard = logging.getLogger("worker.post.repetition")
    guard.addHandler(cuts)
    guard.setLevel(logging.WARNING)
    out: dict[str, Any] = {}
    for batch in sorted({b for _, b, _ in RUNS}):
        model = Transcriber(ModelSpec("tiny.en", "cpu", "int8", cpu_threads=1, batch_size=batch))
        for source, _, plans in (run for run in RUNS if run[1] == batch):
            data = source_bytes(source)
            info = probe(reader(data), source)
            for name in plans:
                run = f"{source} batch {batch} {name}"
                with log_context(job_id=run.replace(" ", "-")):
                    windows = plan_windows(info.duration_s, **PLANS[name])
                    out[run] = [_window(model, data, info, w) for w in windows]
                out[f"{run} cuts"] = cuts.take()
        # The same window again, after the others, in the same process: no state carried from window to window.
        run = f"damaged speech.opus batch {batch} production"
        window = Window.model_validate(out[run][0]["result"]["window"])
        data = source_bytes("damaged speech.opus")
        out[f"{run} again"] = [_window(model, data, probe(reader(data), "again"), window)]
    return out


class _Cuts(logging.Handler):
    """The guard's warnings in this process; each must name the job it was about."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def take(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines


def source_bytes(source: str) -> bytes:
    """The input a run names: a damaged clip, the passage backwards (as a WAV), or a clip as committed."""
    if source.startswith("damaged "):
        return damaged(source.removeprefix("damaged "))
    if source == "backwards":
        import io

        import soundfile as sf

        speech, rate = sf.read(str(DATA / "speech_16k_mono.wav"), dtype="int16")
        out = io.BytesIO()
        sf.write(out, speech[::-1], rate, format="WAV", subtype="PCM_16")
        return out.getvalue()
    return (DATA / source).read_bytes()


def _window(model: Any, data: bytes, info: AudioInfo, window: Window) -> dict[str, Any]:
    samples = read_window(reader(data), info, window.start_s, window.end_s)
    result = transcribed(model, samples, window, "reproducible", "test")
    return {"samples": hashlib.sha256(samples.tobytes()).hexdigest(), "n": len(samples), "result": result.model_dump()}


@cache
def two_processes() -> tuple[str, str]:
    """The child run twice, at the same time, in two fresh processes: their stdout."""
    command = [sys.executable, "-m", "tests.faults.test_reproducible"]
    root = Path(__file__).resolve().parents[2]
    children = [
        subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = []
    for child in children:
        stdout, stderr = child.communicate(timeout=600)
        assert child.returncode == 0, stderr[-3000:]
        outputs.append(stdout)
    return outputs[0], outputs[1]


def results(run: str) -> list[SegmentResult]:
    return [SegmentResult.model_validate(w["result"]) for w in json.loads(two_processes()[0])[run]]


# --- the tests ------------------------------------------------------------------------------------------------------


def test_damaged_files_transcribe_the_same_in_two_processes() -> None:
    first, second = two_processes()
    assert first == second  # byte for byte: every window's samples and segments, every run
    runs = json.loads(first)
    assert set(runs) >= {f"{source} batch {batch} {name}" for source, batch, plans in RUNS for name in plans}
    for batch in (1, 2):  # a window done again after others in the same process comes back the same
        run = f"damaged speech.opus batch {batch} production"
        assert runs[f"{run} again"][0] == runs[run][0]
    for source, batch, plans in RUNS:
        for name in plans:
            windows = runs[f"{source} batch {batch} {name}"]
            assert all(w["n"] > 0 for w in windows) and any(w["result"]["segments"] for w in windows), source


@pytest.mark.parametrize(
    "run",
    [
        "damaged speech.opus batch 2 production",
        "damaged speech.opus batch 2 short",
        "damaged speech.mp3 batch 2 production",
    ],
)
def test_no_invented_repeated_text_on_the_damaged_file(run: str) -> None:
    clip = run.split()[1]
    segments = transcript(run, clip)
    words = [w.word for s in segments for w in s.words]
    assert find_loops(words) == [] and not cuts(run)  # nothing for the guard to cut either
    # No stretch of 5 words twice: speech.txt has none, and libsndfile's misplaced audio made one sentence twice.
    grams = [" ".join(_plain(w) for w in words[k : k + 5]) for k in range(len(words) - 4)]
    assert len(grams) == len(set(grams)), [g for g in grams if grams.count(g) > 1]
    if clip == "speech.opus":  # the speech after the damage keeps its time (an MP3 loses the damaged frames' time)
        clean = transcript("speech.opus batch 2 production", clip)
        # Measured: within 0.06 s, but for the first word after the pause, which Whisper places up to ~0.5 s apart
        # in two decodes (bench/fidelity_spread.py; 0.505 s here since windows decode with timestamps, issue 20).
        # Misplaced audio moves every word by seconds (libsndfile: 3 s early, see the module docstring).
        ours, theirs = _last_sentence(segments), _last_sentence(clean)
        assert ours[1:] == pytest.approx(theirs[1:], abs=0.3) and ours[0] == pytest.approx(theirs[0], abs=0.7)


@pytest.mark.parametrize("batch", [2, 1])
def test_the_guard_cuts_the_loops_the_model_makes(batch: int) -> None:
    """Speech played backwards sends tiny.en into loops at temperature 0 (batched: "...and they'll be a stardom" 23
    times over; sequential: "...they'll be a skard, and" 27 times); the worker's output must not carry them, and
    every cut is logged with its job."""
    run = f"backwards batch {batch} production"
    words = [w.word for s in transcript(run, "speech_16k_mono.wav") for w in s.words]
    assert words and find_loops(words) == []
    lines = cuts(run)
    assert lines, "the recording no longer makes the model loop: find another for this test"
    assert all(f"job_id={run.replace(' ', '-')}" in line for line in lines)


def test_a_damaged_ogg_decodes_the_same_wherever_the_window_starts() -> None:
    """Windows of 2 s every 0.5 s: each must be the clean file's audio except in one stretch around the damage (the
    hole the lost pages leave, then silence) and come back full length. libsndfile's decode differed over 6.5 s."""
    data, clean = damaged("speech.opus"), (DATA / "speech.opus").read_bytes()
    info, clean_info = probe(reader(data), "damaged.opus"), probe(reader(clean), "speech.opus")
    differing: list[float] = []
    for k in range(int((info.duration_s - 2.0) / 0.5) + 1):
        start, end = k * 0.5, k * 0.5 + 2.0
        ours = read_window(reader(data), info, start, end)
        theirs = read_window(reader(clean), clean_info, start, end)
        assert len(ours) == round(end * SAMPLE_RATE) - round(start * SAMPLE_RATE) == len(theirs)
        # 0.05: a lossy decoder restarted at another packet differs by up to 0.003 on the clean file (measured)
        differing += [start + i / SAMPLE_RATE for i in np.flatnonzero(np.abs(ours - theirs) > 0.05)]
    assert differing, "the damage should show in the audio"
    # Measured: 9.99-13.10 s (Ogg pages of ~1 s lost around the 4 KB); libsndfile: 9.99-16.50 s.
    assert max(differing) - min(differing) < 4.0, (min(differing), max(differing))


# --- helpers --------------------------------------------------------------------------------------------------------


def transcript(run: str, clip: str) -> list[Segment]:
    """The run's windows stitched as the service stitches them."""
    duration = json.loads((DATA / "clips.json").read_text())[clip]["duration_s"]
    windows = [SegmentResult.model_validate(w["result"]) for w in json.loads(two_processes()[0])[run]]
    return stitch(windows, duration)[0]


def cuts(run: str) -> list[str]:
    return list(json.loads(two_processes()[0])[f"{run} cuts"])


def _plain(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


LAST_SENTENCE = ("the", "dog", "stayed", "with", "them", "for", "many", "years")


def _last_sentence(segments: list[Segment]) -> list[float]:
    """Start times of the last sentence's words (spoken at 19.2-21.6 s, after the damage at ~10-13 s)."""
    words = [w for s in segments for w in s.words]
    tail = words[-len(LAST_SENTENCE) :]
    assert tuple(_plain(w.word) for w in tail) == LAST_SENTENCE, [w.word for w in tail]
    return [w.start for w in tail]


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(transcribe_all(), sort_keys=True))
