"""Follow a job to its end like a patient customer: one progress line, retries through a slow or busy service.

Used by ``python -m client wait`` and ``scripts/transcribe``. The status API may be slow while a very large job
runs, or answer 503 (storage busy) or time out; none of that is the job's failure, so the poll is retried with
backoff (honouring ``Retry-After``) until the caller's deadline. A failed or canceled job raises ``ApiError`` with
its stable code. Nothing here prints a traceback.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from tqdm import tqdm

from client.api import RETRYABLE_STATUS, ApiError, TranscriptionApi

MAX_BACKOFF_S = 15.0


class Patience:
    """Backoff for polls that did not get an answer: 0.5 s doubling to 15 s, reset by the next answer."""

    def __init__(self) -> None:
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        return min(0.5 * 2 ** (self.failures - 1), MAX_BACKOFF_S)

    def reset(self) -> None:
        self.failures = 0


def progress_line(job: dict[str, Any]) -> str:
    """One line of progress; a job whose segments all wait in the shared queue says so (issue 22: it read
    "transcribing 0.0 %" for minutes, which looks like a hang)."""
    progress = job.get("progress") or {}
    eta = progress.get("eta_s")
    done, total = progress.get("segments_done", 0), progress.get("segments_total", "?")
    line = f"{job.get('status', '?')} {done}/{total} segments"
    heard = languages_heard(progress, most=3)
    line += f", heard {heard}" if heard else ""
    if progress.get("waiting_for_worker"):
        return f"{line}, queued for a worker ({_queue_note(progress)})"
    return line + (f", ETA {eta:.0f} s" if eta is not None else "")


def languages_heard(result: dict[str, Any], most: int | None = None) -> str:
    """``de 41.2 s, en 3.0 s`` from a job's result or progress: the languages found, most first (``most`` of them)."""
    entries = list(result.get("languages") or [])
    heard = [f"{e.get('language')} {float(e.get('seconds') or 0):.1f} s" for e in entries[:most]]
    return ", ".join(heard) + (", ..." if most is not None and len(entries) > most else "")


def _queue_note(progress: dict[str, Any]) -> str:
    waiting, backlog = progress.get("segments_waiting", 0), progress.get("queue_backlog")
    note = f"{waiting} segment{'' if waiting == 1 else 's'} waiting"
    return note + (f", about {backlog} in the queue" if isinstance(backlog, int) else "")


def _phase(job: dict[str, Any]) -> str:
    """What a log line must be printed for when it changes, however little the percentage moved."""
    return "waiting" if (job.get("progress") or {}).get("waiting_for_worker") else str(job.get("status", "?"))


def follow_job(
    api: TranscriptionApi,
    job_id: str,
    timeout_s: float,
    show: bool,
    sleep: Callable[[float], None] = time.sleep,
    max_poll_s: float = 5.0,
) -> dict[str, Any]:
    """The finished job's view. ``show``: a live progress bar (a terminal); otherwise a line per 5 % or 30 s."""
    deadline, patience = time.monotonic() + timeout_s, Patience()
    with _Display(show) as display:
        while time.monotonic() < deadline:
            try:
                finished, job, retry_after = api.get_job(job_id)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                display.note(f"the service did not answer ({type(exc).__name__}); retrying")
                sleep(patience.next_delay())
                continue
            except ApiError as exc:
                if exc.status not in RETRYABLE_STATUS or exc.problem.get("job_error_code"):
                    raise  # the job failed or was canceled (a 5xx can be the job's own failure code)
                display.note(f"the service is busy ({exc.code}); retrying")
                sleep(patience.next_delay())
                continue
            patience.reset()
            if finished:
                display.update(100.0, "completed", "completed")
                return job
            percent = float((job.get("progress") or {}).get("percent") or 0.0)
            display.update(percent, progress_line(job), _phase(job))
            sleep(min(retry_after, max_poll_s))
    raise TimeoutError(f"job {job_id} did not finish within {timeout_s:.0f} s (it goes on: follow it again later)")


class _Display:
    """A tqdm bar on a terminal; in a log, a line only when the percentage moved 5 points, 30 s passed or the phase
    changed (queued for a worker, transcribing, merging)."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.bar = tqdm(total=100.0, unit="%", disable=not show, file=sys.stderr, bar_format="{l_bar}{bar}| {postfix}")
        self.last_percent, self.last_line, self.last_phase = -100.0, 0.0, ""

    def update(self, percent: float, line: str, phase: str = "") -> None:
        if self.show:
            self.bar.n = percent
            self.bar.set_postfix_str(line)
            self.bar.refresh()
            return
        now = time.monotonic()
        if percent - self.last_percent >= 5.0 or now - self.last_line >= 30.0 or phase != self.last_phase:
            print(f"{percent:5.1f}% {line}", file=sys.stderr, flush=True)
            self.last_percent, self.last_line, self.last_phase = percent, now, phase

    def note(self, message: str) -> None:
        if self.show:
            self.bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def __enter__(self) -> _Display:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
