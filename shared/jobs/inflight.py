"""How far the segments being transcribed right now have got: progress that moves within a long segment.

A 300 s window takes a GPU ten seconds or more and a CPU minutes; counted only when segments finish, a job's
progress would stand still that long. So a worker says every ``progress_every_s`` how far its decoding has reached,
as metadata on a small blob beside the results (``segments/{job_id}/inflight/{index}``, no body), and writes the
window's whole length when its result is written (workers may not delete: their role has no delete right). The
status API lists that prefix (one call, metadata included) and adds the audio of the segments its running batches
still wait for (their ``pending`` indices): a segment finished but not yet reported counts in full, once its batch
has counted it the report no longer does, so progress never counts a segment twice nor goes backwards. Best
effort: a lost update only makes progress coarser.

The same blob says a segment was *taken*: a worker writes it, with the attempt it took, before it starts work
(:func:`mark_taken`). A batch whose no-progress deadline passes asks :func:`sightings` which of its segments a
worker holds and still writes about, which were taken and then went silent (redispatched), and which no worker
has taken yet: those still wait in the shared queue, perhaps behind other jobs' work, and sending them again would
only lengthen that queue and have them worked twice (bench/load found it).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.contracts import SegmentJob

logger = logging.getLogger(__name__)


def inflight_prefix(job_id: str) -> str:
    return f"{job_id}/inflight/"


class InflightProgress:
    """One segment's progress reports, at most one write per ``every_s``."""

    def __init__(self, container: Any, job: SegmentJob, every_s: float) -> None:
        self.container, self.job, self.every_s = container, job, every_s
        self.name = f"{inflight_prefix(job.job_id)}{job.index}"
        self._last, self._written = time.monotonic(), False

    def reached(self, t: float) -> None:
        """Decoding has reached absolute time ``t`` (seconds into the file)."""
        now = time.monotonic()
        if now - self._last < self.every_s:
            return
        self._last = now
        window = self.job.window
        done = min(max(t - window.keep_start_s, 0.0), window.keep_end_s - window.keep_start_s)
        self._write(f"{done:.2f}")

    def finished(self) -> None:
        if self._written:  # a segment that never reported progress has nothing to complete
            window = self.job.window
            self._write(f"{window.keep_end_s - window.keep_start_s:.2f}")

    def _write(self, audio_done: str) -> None:
        with contextlib.suppress(Exception):
            self.container.upload_blob(self.name, b"", overwrite=True, metadata=_metadata(self.job, audio_done))
            self._written = True


def mark_taken(container: Any, job: SegmentJob) -> None:
    """Before a worker starts a segment: this attempt is taken (nothing done yet). Best effort: a segment whose
    mark is lost looks untaken, and waits for its report or the batch's queue limit rather than being re-sent."""
    with contextlib.suppress(Exception):
        container.upload_blob(
            f"{inflight_prefix(job.job_id)}{job.index}", b"", overwrite=True, metadata=_metadata(job, "0.00")
        )


def _metadata(job: SegmentJob, audio_done: str) -> dict[str, str]:
    return {"audio_done": audio_done, "attempt": str(job.attempt)}


LAST_MODIFIED_GRAIN_S = 1.0
"""A blob's Last-Modified has whole seconds (an HTTP date): a mark is silent only once it is surely that old (a
segment taken 0.9 s ago could otherwise look 1.9 s silent; tests/faults/test_backlog.py caught it sent twice)."""


@dataclass
class Sightings:
    """Pending segments of a batch by what their workers last wrote (indices)."""

    working: list[int] = field(default_factory=list)  # taken at the current attempt, written within the limit
    silent: list[int] = field(default_factory=list)  # taken at the current attempt, nothing since: lost
    untaken: list[int] = field(default_factory=list)  # no worker has taken the current attempt yet: queued


def sightings(container: Any, job_id: str, attempts: dict[int, int], silent_after_s: float) -> Sightings:
    """Sort ``attempts`` (pending index → the attempt last dispatched) by the marks under the job's in-flight
    prefix: one listing, metadata included. A mark of an earlier attempt does not count for a later one."""
    marks: dict[int, tuple[int, datetime]] = {}
    prefix = inflight_prefix(job_id)
    for blob in container.list_blobs(name_starts_with=prefix, include=["metadata"]):
        index, attempt = blob.name[len(prefix) :], (blob.metadata or {}).get("attempt", "")
        if index.isdigit() and attempt.isdigit():
            marks[int(index)] = (int(attempt), blob.last_modified)
    now, seen = datetime.now(UTC), Sightings()
    for index, attempt in sorted(attempts.items()):
        mark = marks.get(index)
        if mark is None or mark[0] < attempt:
            seen.untaken.append(index)
        elif (now - mark[1]).total_seconds() - LAST_MODIFIED_GRAIN_S >= silent_after_s:
            seen.silent.append(index)
        else:
            seen.working.append(index)
    return seen


@dataclass(frozen=True)
class InflightReport:
    """What one listing of the in-flight marks says about a job's pending segments."""

    audio_s: float = 0.0  # audio decoded so far by them
    taken: frozenset[int] = frozenset()  # those a worker has taken (at some attempt)
    known: bool = True  # False when the listing failed: then nothing is known about them


def inflight_report(container: Any, job_id: str, pending: set[int]) -> InflightReport:
    """Audio decoded so far by the job's segments its batches still wait for, and which of them a worker has taken:
    a pending segment without a mark still waits in the shared queue (``shared/jobs/queue_wait.py``)."""
    total, taken, prefix = 0.0, set(), inflight_prefix(job_id)
    try:
        for blob in container.list_blobs(name_starts_with=prefix, include=["metadata"]):
            index = blob.name[len(prefix) :]
            if index.isdigit() and int(index) in pending:
                total += float((blob.metadata or {}).get("audio_done") or 0.0)
                taken.add(int(index))
    except Exception:
        logger.warning("in-flight progress unavailable job_id=%s", job_id, exc_info=True)
        return InflightReport(known=False)
    return InflightReport(total, frozenset(taken))


def inflight_audio_s(container: Any, job_id: str, pending: set[int]) -> float:
    """Audio seconds decoded so far by the job's segments its batches still wait for (0 when the listing fails)."""
    return inflight_report(container, job_id, pending).audio_s
