"""How many worker processes, how many threads each and what batch size, chosen from the machine.

``choose()`` turns a few facts (cores, free memory, GPUs and their memory) into a :class:`Layout`;
``scripts/transcribe`` and ``scripts/up`` start their workers from it unless flags say otherwise. Every fact can
be given (the tests do); a missing one is read from the machine when needed, cheaply: nothing heavy is imported
unless GPUs have to be counted (``ctranslate2``, only then).

The rules, and why (measured for issue 13 with faster-whisper ``tiny.en`` int8 on the 2-core / 24 GiB dev machine):

- **CPU: one process per core, one thread each, batch 2.** ``BatchedInferencePipeline`` in two 1-thread
  processes reached RTFx ~21.8 (AMD EPYC, batch 8), one 2-thread batched process 16.1, sequential decoding with
  2 threads 11.0: CTranslate2 does not scale across threads nearly as well as separate processes do. The batch:
  on one thread (Intel Xeon, a 300 s window, medians of 3, ``bench/gpu_worker.py --device cpu --threads 1``)
  batch 2 ran at 1.16x sequential, 4 at 1.02x, 8 at 0.96x, 16 at 0.91x, with peak RSS 489 / 653 / 891 / 1,051
  MiB; through the whole pipeline on a 12.5-minute file batch 2 finished in 15.6 s against 17.4 s with 8. One
  thread gains little from wider matrices and loses cache to them. Processes are capped by memory (each holds its
  own copy of the model), so a small-memory machine gets fewer, wider processes (``threads = cores //
  processes``) rather than swapping. Re-measured on real speech for issue 20, where every batch size decodes the
  same clips (``worker/pre/speech.py``): batch 1, 2 and 4 gave the same words to the letter (WER 15.4 % on 7.9 minutes
  of real utterances, AMD EPYC, one thread each) and the same speed within 3 % (44.9 / 46.1 / 45.6 s), so
  accuracy does not choose here and batch 2 stays.
- **CUDA: one process per GPU, batch by GPU memory, float16** (the worker's default on CUDA). A GPU is kept
  busy by batching, not by more processes; the CPU cores left over go to the process's decode work
  (``threads = cores // GPUs``). Batch 16 for a 16 GB T4, 32 from 40 GB, 64 from 80 GB (A100/H100): starting
  points, to be measured with ``bench/gpu_worker.py``, not measurements.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from worker.engines.models import bundled

GIB = 1024**3

CPU_BATCH_SIZE = 2
"""The fastest batch measured for a 1-thread CPU worker (1.16x sequential; 8 was 0.96x): see the rules above."""

TINY_RSS_BYTES = int(0.55 * GIB)
"""Peak RSS of one ``tiny.en`` worker, measured: 489 MiB at batch 2 on a 300 s window (891 at batch 8), and the
sequential worker's 552 MiB peak in ``docs/benchmarks.md`` (``bench/pipeline_memory.py``)."""

STACK_RESERVE_BYTES = GIB // 2
"""Left for the rest of the one-machine stack: the devhost (~160 MiB peak measured), Azurite (Node) and slack."""

ASSUMED_GPU_BYTES = 16 * 10**9
"""GPU memory assumed when it cannot be read (no ``nvidia-smi``): the smallest GPU we plan for, a 16 GB T4."""

# (at least this much GPU memory, batch size). Thresholds sit below the nominal sizes on purpose: GPUs report
# less than their label (a T4 says 15360 MiB, an H100 "80 GB" 81559 MiB < 80 GiB) and labels are decimal GB.
# Starting points to be measured with bench/gpu_worker.py.
GPU_BATCH_SIZES: tuple[tuple[int, int], ...] = (
    (72 * GIB, 64),  # A100/H100 80 GB
    (36 * GIB, 32),  # A100 40 GB, L40S 48 GB
    (12 * GIB, 16),  # T4 16 GB, A10 24 GB
    (0, 8),  # smaller cards: half the T4's batch
)


CPU_WINDOW_S = 600.0
"""The longest window a CPU worker gets on this machine's stack (``scripts/transcribe``, ``scripts/up``): fewer,
longer windows cost fewer seams, queue hops and rounds per worker. A 12.5-minute file on 2 workers is then 2 windows
of 375 s instead of 4 of 187 s: 14.3 s against 15.1 s in the same conditions (docs/benchmarks.md, issue 13)."""


def window_for(layout: Layout) -> float:
    """The window setting that suits these workers: on a GPU 30 s x the batch, so that a window fills a batch (what
    Bicep sets: 480 s on a T4, 1,920 s on an A100), at least the app's 300 s default; on CPU ``CPU_WINDOW_S``."""
    from shared.config import setting_default  # the app's default, read only when a window is chosen

    app_window_s = setting_default("segment_window_s")
    return max(app_window_s, 30.0 * layout.batch_size) if layout.device == "cuda" else CPU_WINDOW_S


@dataclass(frozen=True)
class Layout:
    processes: int
    threads: int
    batch_size: int
    device: str  # "cpu" | "cuda"
    gpus: int = 0  # GPUs found (the processes are spread over them, one each); 0 on CPU or when none was found
    basis: str = field(default="", compare=False)  # the facts it was chosen from, for the start-up line

    def describe(self) -> str:
        """One line, e.g. ``2 worker(s) x 1 thread(s), batch 2, cpu (2 core(s), 21.9 GiB free)``."""
        text = f"{self.processes} worker(s) x {self.threads} thread(s), batch {self.batch_size}, {self.device}"
        return f"{text} ({self.basis})" if self.basis else text


def choose(
    device: str = "auto",
    *,
    cores: int | None = None,
    memory_bytes: int | None = None,
    gpu_memory_bytes: list[int] | None = None,
    model: str = "tiny.en",
    processes: int | None = None,
) -> Layout:
    """The layout for this machine (or for the facts given).

    ``device``: ``"auto"`` (CUDA when a GPU is visible), ``"cpu"`` or ``"cuda"`` (respected as given, even with no
    GPU found: one process then). ``cores``: usable CPU cores (affinity and cgroup quota). ``memory_bytes``: memory
    available to new processes (``None`` after detection found nothing: no memory cap). ``gpu_memory_bytes``: one
    entry per visible GPU. ``model``: the worker's ``--model`` (its weights set the per-process memory). With
    ``processes`` fixed (a ``--workers`` flag) threads are fitted to it: idle cores are worse than wide processes.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    cores = max(1, cores if cores is not None else detect_cores())
    if memory_bytes is None:
        memory_bytes = detect_memory_bytes()
    gpus: list[int] = []
    if device != "cpu":
        gpus = list(gpu_memory_bytes) if gpu_memory_bytes is not None else detect_gpu_memory_bytes()
    if device == "auto":
        device = "cuda" if gpus else "cpu"
    per_process = worker_memory_bytes(model)
    by_memory = memory_cap(memory_bytes, per_process)
    basis = f"{cores} core(s), " + (f"{memory_bytes / GIB:.1f} GiB free" if memory_bytes is not None else "memory ?")

    if device == "cuda":
        gpu_count = max(1, len(gpus))
        smallest = min(gpus) if gpus else ASSUMED_GPU_BYTES
        count = max(1, processes) if processes else min(gpu_count, by_memory)
        basis += f", {len(gpus)} GPU(s), smallest {smallest / GIB:.0f} GiB"
        return Layout(count, max(1, cores // count), gpu_batch_size(smallest), "cuda", len(gpus), basis)

    count = max(1, processes) if processes else min(cores, by_memory)
    return Layout(count, max(1, cores // count), CPU_BATCH_SIZE, "cpu", 0, basis)


def overridden(
    layout: Layout, *, processes: int | None = None, threads: int | None = None, batch_size: int | None = None
) -> tuple[Layout, list[str]]:
    """``layout`` with the parts given replaced (at least 1 each), and the names of those parts."""
    given = {"processes": processes, "threads": threads, "batch_size": batch_size}
    parts = [name for name, value in given.items() if value is not None]
    return (
        replace(
            layout,
            processes=max(1, processes) if processes is not None else layout.processes,
            threads=max(1, threads) if threads is not None else layout.threads,
            batch_size=max(1, batch_size) if batch_size is not None else layout.batch_size,
        ),
        parts,
    )


def gpu_batch_size(gpu_bytes: int) -> int:
    """Batch size for a GPU with this much memory (the smallest of several: every worker gets the same flag)."""
    return next(batch for floor, batch in GPU_BATCH_SIZES if gpu_bytes >= floor)


def memory_cap(memory_bytes: int | None, per_process_bytes: int) -> int:
    """How many workers fit in ``memory_bytes`` after the stack's reserve; at least 1, unbounded when unknown."""
    if memory_bytes is None:
        return 1 << 30
    return max(1, (memory_bytes - STACK_RESERVE_BYTES) // per_process_bytes)


def worker_memory_bytes(model: str) -> int:
    """Peak RSS of one worker: measured for ``tiny.en``; for a model folder, weights x 2 + 0.4 GiB.

    The formula is fitted to tiny.en (75.5 MB of weights -> 0.54 GiB, measured 0.55): the weights are held once
    by CTranslate2 and about once more while loading and in the batch's buffers, plus the interpreter, the audio
    decoders and faster-whisper (~0.4 GiB). Like the worker, a folder wins over a bundled name; a bundled model split
    across packages (base) is costed by its recorded weights; any other name as tiny.en (the bundled model, or one
    the worker will reject).
    """
    path = Path(model)
    if path.is_dir():
        weights = sum(f.stat().st_size for f in path.iterdir() if f.is_file() and f.suffix == ".bin")
        return 2 * weights + int(0.4 * GIB)
    entry = bundled(model)
    if entry is not None and entry.weights_bytes:  # base: its recorded model.bin, by the same formula (not measured)
        return 2 * entry.weights_bytes + int(0.4 * GIB)
    return TINY_RSS_BYTES


# --- the machine's facts -----------------------------------------------------------------------------------------


def detect_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may run on (affinity), lowered to a cgroup CPU quota when one is set (containers)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    return max(1, min(cores, quota) if quota is not None else cores)


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Whole CPUs a cgroup quota allows (v2 ``cpu.max``, else v1 ``cpu.cfs_quota_us``), or ``None`` when unlimited.

    Rounded down, at least 1: 1.5 CPUs run one 1-thread worker at full speed, two would be throttled in turns.
    """
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1"):
        return None
    try:
        return max(1, math.floor(int(quota) / int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def detect_memory_bytes(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Memory new processes can have: the system's available memory, lowered to what a cgroup limit leaves."""
    known = [value for value in (_available_memory(), cgroup_memory_left(cgroup_root)) if value is not None]
    return min(known) if known else None


def cgroup_memory_left(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """A cgroup's memory limit less what it uses (v2 ``memory.max``/``memory.current``, else v1), or ``None``."""
    for limit_file, usage_file in (
        (root / "memory.max", root / "memory.current"),
        (root / "memory" / "memory.limit_in_bytes", root / "memory" / "memory.usage_in_bytes"),
    ):
        try:
            limit = limit_file.read_text().strip()
        except OSError:
            continue
        if limit == "max" or not limit.isdigit() or int(limit) >= 1 << 60:  # v1 says "unlimited" with a huge number
            return None
        try:
            used = int(usage_file.read_text().strip())
        except (OSError, ValueError):
            used = 0
        return max(0, int(limit) - used)
    return None


def _available_memory() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # psutil is a dev requirement; /proc/meminfo says the same on Linux
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return None


def detect_gpu_memory_bytes() -> list[int]:
    """One entry per GPU CTranslate2 can see: its memory from ``nvidia-smi``, else 16 GB assumed."""
    try:
        import ctranslate2

        count = int(ctranslate2.get_cuda_device_count())
    except Exception:  # no ctranslate2, or a CUDA runtime that fails to load: no usable GPU
        return []
    if count <= 0:
        return []
    return fit_gpu_memory(_nvidia_smi_memory(), count)


def fit_gpu_memory(reported: Sequence[int], count: int) -> list[int]:
    """``count`` GPU sizes from what nvidia-smi reported: as reported when it lists exactly ``count`` GPUs,
    otherwise (``CUDA_VISIBLE_DEVICES`` hides some) the smallest for each, or 16 GB when nothing was read."""
    if len(reported) == count:
        return list(reported)
    return [min(reported) if reported else ASSUMED_GPU_BYTES] * count


def _nvidia_smi_memory() -> list[int]:
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return []
    try:
        out = subprocess.run(  # nvidia-smi by shutil.which, fixed arguments  # nosec B603
            [binary, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        return [int(float(line)) * 1024**2 for line in out.split() if line.strip()]  # MiB
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
