"""Orchestration at scale: one job of N segments through the one-machine host, the transcription left out.

    .venv/bin/python -m bench.scale --segments 10000
    .venv/bin/python -m bench.scale --segments 1204 --before a377b02   # the same job on an older commit too

A silent WAV of N seconds (8 kHz) cut into 1 s windows makes N segments; three no-op workers
(``tests/support/noop_worker.py``: the real worker loop, queue handling and reports, with ``_transcribe`` writing an
empty result) take them, so what is measured is the orchestration: wall time from the committed upload to the
completed job, that time per segment, the host's peak RSS, and the status API's latency (``GET /api/jobs/{id}``
four times a second) during the job. ``--before COMMIT`` runs the same job, in the same run, from a git worktree of
that commit (its own host and app; the no-op worker and this script are copied in) with a time limit, so the
old orchestration's figures sit next to the new ones.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.support.silence import silent_wav

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    "TRANSCRIBE_SEGMENT_WINDOW_S": "1",
    "TRANSCRIBE_SEGMENT_MIN_WINDOW_S": "1",
    "TRANSCRIBE_SEGMENT_OVERLAP_S": "0.1",
    "TRANSCRIBE_EXPECTED_WORKERS": "3",
    "TRANSCRIBE_SEGMENT_TIMEOUT_S": "600",
}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def child(segments: int, limit_s: float) -> dict[str, Any]:
    """One job on a fresh stack of the code this process runs from."""
    import httpx
    import psutil

    from client.api import TranscriptionApi
    from client.uploads import upload_file
    from devhost.stack import LocalStack

    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    audio = silent_wav(folder / "silence.wav", segments)
    stack = LocalStack(env=ENV, workers=0)  # workers started below: older stacks cannot name a worker module
    latencies: list[float] = []
    errors: list[int] = []
    rss = [0]
    stop = threading.Event()
    with stack:
        workers = [_noop_worker(stack, n) for n in range(3)]
        host = psutil.Process(stack.devhost.proc.pid)  # type: ignore[union-attr]
        groups = _process_groups(stack, host, workers)
        api = TranscriptionApi(stack.base_url, stack.function_key)
        job_id = upload_file(api, audio).job_id
        started = time.perf_counter()
        cpu_before = {name: _cpu_s(group) for name, group in groups.items()}

        def poll() -> None:
            with httpx.Client(base_url=stack.base_url, headers={"x-functions-key": stack.function_key}) as http:
                while not stop.is_set():
                    t = time.perf_counter()
                    try:
                        code = http.get(f"/api/jobs/{job_id}", timeout=60).status_code
                    except httpx.HTTPError:
                        code = 599
                    latencies.append(time.perf_counter() - t)
                    if code >= 500:
                        errors.append(code)
                    rss[0] = max(rss[0], host.memory_info().rss)
                    stop.wait(0.25)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        status = "timeout"
        while time.perf_counter() - started < limit_s:
            try:
                finished, job, _ = api.get_job(job_id)
            except Exception as exc:  # a failed job, or a host that gave up: report it, do not hide it
                status = f"error: {exc}"[:200]
                break
            if finished:
                status = job["status"]
                break
            time.sleep(0.5)
        wall = time.perf_counter() - started
        cpu = {name: _cpu_s(group) - cpu_before[name] for name, group in groups.items()}
        stop.set()
        watcher.join()
        api.close()
        for worker in workers:
            worker.stop()
    shutil.rmtree(folder, ignore_errors=True)
    ordered = sorted(latencies) or [0.0]
    return {
        "segments": segments,
        "status": status,
        "wall_s": round(wall, 1),
        "ms_per_segment": round(1000 * wall / segments, 2),
        "host_peak_rss_mib": round(rss[0] / 2**20, 1),
        "status_api_p50_ms": round(1000 * statistics.median(ordered), 1),
        "status_api_p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 1),
        "status_api_5xx": len(errors),
        # CPU time each part spent on the job, per segment: the host's is the orchestration's own cost (triggers,
        # episodes, activities, status API), what a Flex Consumption instance would spend; the status poller's
        # requests are in it too (4 a second).
        **{f"{name}_cpu_ms_per_segment": round(1000 * seconds / segments, 2) for name, seconds in cpu.items()},
        "status_api_polls": len(latencies),
    }


def _process_groups(stack: Any, host: Any, workers: list[Any]) -> dict[str, list[Any]]:
    """The host (with its children), the no-op workers, and this stack's Azurite, as psutil processes."""
    import psutil

    azurite = psutil.Process(stack.azurite.process.proc.pid)
    return {
        "host": [host, *host.children(recursive=True)],
        "workers": [psutil.Process(w.proc.pid) for w in workers],
        "azurite": [azurite, *azurite.children(recursive=True)],
    }


def _cpu_s(group: list[Any]) -> float:
    """User + system CPU seconds of the processes (all alive for the whole job: the stack's own)."""
    return sum(sum(p.cpu_times()[:4]) for p in group)


def _noop_worker(stack: Any, n: int) -> Any:
    from devhost.processes import ManagedProcess

    argv = [sys.executable, "-m", "tests.support.noop_worker", "--worker-id", f"noop-{n}"]
    worker = ManagedProcess(f"noop-{n}", argv, stack.workdir / f"noop-{n}.log", env=stack.host_env(), cwd=Path.cwd())
    worker.start()
    worker.wait_ready(lambda: "ready" in worker.log_tail(5), timeout_s=60)
    return worker


def run_in(repo: Path, segments: int, limit_s: float) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--child", "--segments", str(segments), "--limit", str(limit_s)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=limit_s + 300,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"segments": segments, "status": f"crashed: {out.stderr[-500:]}"}
    return dict(json.loads(lines[-1]))


def worktree(commit: str) -> Path:
    """The older commit checked out beside this one, with this script and the no-op worker copied in."""
    path = Path(tempfile.mkdtemp(prefix="bench-before-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(path), commit], cwd=ROOT, check=True, capture_output=True)
    for relative in ("bench/scale.py", "tests/support/noop_worker.py", "tests/support/silence.py"):
        (path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, path / relative)
    (path / "node_modules").symlink_to(ROOT / "node_modules")  # Azurite, installed once by scripts/bootstrap
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, default=10_000)
    parser.add_argument("--limit", type=float, default=1800.0, help="give a job up after this many seconds")
    parser.add_argument("--before", metavar="COMMIT", help="also run the job on this commit, in the same run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.segments, args.limit)))
        return 0
    report: dict[str, Any] = {"cpu": cpu_model(), "after": run_in(ROOT, args.segments, args.limit)}
    if args.before:
        old = worktree(args.before)
        try:
            report["before"] = {"commit": args.before, **run_in(old, args.segments, args.limit)}
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
