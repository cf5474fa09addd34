"""``python -m worker``: load the model once, then transcribe segments from ``segment-jobs`` until stopped.

    python -m worker                          # bundled tiny.en, device auto (CUDA float16 or CPU int8)
    python -m worker --model /models/large-v3-turbo --device cuda
    python -m worker --model base             # multilingual Whisper base (BOOTSTRAP_MODELS=base scripts/bootstrap)
    python -m worker --threads 1 --exit-when-idle 60
    python -m worker --batch-size 1            # sequential decoding (default: batched, size from the layout)
    python -m worker --deadline 3480           # take no segment that may still run 3,480 s after the start

Model, model cache, device, compute type, threads, batch size, deadline and segment budget are
:class:`worker.settings.WorkerSettings` (``TRANSCRIBE_MODEL``, ``TRANSCRIBE_MODEL_CACHE``, ``TRANSCRIBE_DEVICE``,
...; checked at start-up), each overridden by its flag here. Storage comes from the same settings as the Function
App (``Storage`` or ``Storage__blobServiceUri`` / ``Storage__queueServiceUri`` with a managed identity).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from shared.azure import storage
from shared.azure.queues import queue
from shared.config import get_settings
from shared.contracts import SEGMENT_RESULTS_QUEUE
from shared.jobs.store import job_store
from shared.telemetry import job_metrics
from shared.telemetry import setup as telemetry
from shared.telemetry.logs import configure_logging
from shared.telemetry.names import SERVICE_WORKER
from worker.engines.base import ModelSpec
from worker.engines.whisper import Transcriber
from worker.segment_worker import SegmentWorker, WorkerOptions
from worker.settings import (
    COMPUTE_TYPES,
    DEVICES,
    WorkerSettings,
    WorkerSettingsError,
    get_worker_settings,
    with_overrides,
)

SETTING_FLAGS = {
    "model": "model",
    "model_cache": "model_cache",
    "device": "device",
    "compute_type": "compute_type",
    "cpu_threads": "threads",
    "batch_size": "batch_size",
    "deadline_s": "deadline",
    "segment_budget_s": "segment_budget",
}
""":class:`WorkerSettings` field -> the flag's ``argparse`` dest that overrides it."""


def parse_args(argv: list[str] | None, settings: WorkerSettings | None = None) -> argparse.Namespace:
    """Flags over the environment's :class:`WorkerSettings` (``settings``, or the process's, read now); a bad
    variable or flag ends the process with a usage error that names it."""
    parser = _parser()
    try:
        defaults = settings if settings is not None else get_worker_settings()
    except WorkerSettingsError as exc:
        parser.error(str(exc))
    parser.set_defaults(**{dest: getattr(defaults, field) for field, dest in SETTING_FLAGS.items()})
    args = parser.parse_args(argv)
    try:
        with_overrides(defaults, {field: getattr(args, dest) for field, dest in SETTING_FLAGS.items()}, _flag)
    except WorkerSettingsError as exc:
        parser.error(str(exc))
    return args


def _flag(field: str) -> str:
    return "--" + SETTING_FLAGS.get(field, field).replace("_", "-")


def _parser() -> argparse.ArgumentParser:
    """The flags; those of :data:`SETTING_FLAGS` take their defaults from the settings (``parse_args``)."""
    parser = argparse.ArgumentParser(
        prog="python -m worker", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        help="a CTranslate2 model folder, or a bundled model: tiny.en (English), base (multilingual) "
        "(TRANSCRIBE_MODEL)",
    )
    parser.add_argument(
        "--model-cache",
        help="where base's two packages are joined once (default ~/.cache/transcribe/models; TRANSCRIBE_MODEL_CACHE)",
    )
    parser.add_argument("--device", choices=DEVICES, help="TRANSCRIBE_DEVICE")
    parser.add_argument("--compute-type", choices=COMPUTE_TYPES, help="TRANSCRIBE_COMPUTE_TYPE")
    parser.add_argument("--threads", type=int, help="CPU threads for the model (0: all cores; TRANSCRIBE_CPU_THREADS)")
    parser.add_argument(
        "--batch-size",
        type=int,
        help="30 s chunks decoded at once (1: sequential; 0: the layout's choice for the device; "
        "TRANSCRIBE_BATCH_SIZE)",
    )
    parser.add_argument("--visibility-timeout", type=int, default=300, help="seconds a taken message stays hidden")
    parser.add_argument("--max-dequeue", type=int, default=5)
    parser.add_argument("--exit-when-idle", type=float, default=None, help="exit after the queue is empty this long")
    parser.add_argument("--worker-id", default=f"{socket.gethostname()}-{os.getpid()}")
    parser.add_argument(
        "--progress-every", type=float, default=10.0, help="seconds between reports of how far a segment has got"
    )
    parser.add_argument(
        "--deadline",
        type=float,
        help="seconds after start (model load included) by which no segment may still run; then the worker takes "
        "no more and exits (0: none). On Azure: the job's replicaTimeout less a margin (TRANSCRIBE_DEADLINE_S)",
    )
    parser.add_argument(
        "--segment-budget",
        type=float,
        help="seconds a segment may take, assumed until this process has timed one (with --deadline; "
        "TRANSCRIBE_SEGMENT_BUDGET_S)",
    )
    return parser


def batch_size_for(args: argparse.Namespace) -> int:
    """The flag, or the batch size the layout picks for the device (2 on CPU; by GPU memory on CUDA)."""
    if args.batch_size > 0:
        return int(args.batch_size)
    from worker.layout import choose

    return choose(args.device, model=args.model).batch_size


def limit_native_threads(threads: int) -> None:
    """Hold the native libraries' own thread pools to the worker's ``--threads`` as well as the model.

    The model's decoding takes ``threads`` (CTranslate2's ``intra_threads``), but numpy's OpenBLAS (the mel
    filter product in feature extraction) and OpenMP start one thread per core by default: the layout's several
    1-thread workers on a machine then each run a pool as wide as the machine and spin against one another.
    OpenBLAS reads its variable once, when numpy loads, so this runs before anything imports numpy (the model
    loads in :func:`main`, after it). A value already in the environment is left as it is.
    """
    if threads > 0:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, str(threads))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limit_native_threads(args.threads)
    born = time.monotonic()
    configure_logging(SERVICE_WORKER)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never fetch weights at run time
    spec = ModelSpec(args.model, args.device, args.compute_type, args.threads, batch_size_for(args), args.model_cache)
    # A replica starts cold for every burst: the model loads (C++, outside the GIL) while telemetry, settings and
    # the storage clients are set up, rather than after them (bench/worker_startup.py: Azure Monitor's set-up and
    # its threads made the start 0.9 s later when done first).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load") as loader:
        loading = loader.submit(Transcriber, spec)
        telemetry.setup(SERVICE_WORKER)
        settings = get_settings()
        blobs, jobs = storage.blob_service(), job_store()
        segment_jobs, results = queue(settings.segment_jobs_queue), queue(SEGMENT_RESULTS_QUEUE)
        transcriber = loading.result()
    options = WorkerOptions(
        visibility_timeout_s=args.visibility_timeout,
        max_dequeue_count=args.max_dequeue,
        exit_when_idle_s=args.exit_when_idle,
        worker_id=args.worker_id,
        progress_every_s=args.progress_every,
        deadline_at=born + args.deadline if args.deadline > 0 else None,
        segment_budget_s=args.segment_budget,
    )
    poison = queue(f"{settings.segment_jobs_queue}-poison")
    worker = SegmentWorker(transcriber, blobs, segment_jobs, results, jobs, options, poison_queue=poison)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ready = f"{transcriber.device}, {transcriber.compute_type}, batch {transcriber.batch_size}"
    print(f"worker {args.worker_id}: ready ({ready})", flush=True)
    try:
        handled = worker.run(stop)
        logging.getLogger(__name__).info("worker %s stopping after %d segments", args.worker_id, handled)
    finally:
        job_metrics.worker_lifetime(transcriber.device, time.monotonic() - born)  # what a GPU replica is billed
        telemetry.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
