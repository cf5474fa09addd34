"""How far the segments being transcribed right now have got: progress that moves within a long segment.

A 300 s window takes a GPU ten seconds or more and a CPU minutes; counted only when segments finish, a job's
progress would stand still that long. So a worker says every ``progress_every_s`` how far its decoding has reached,
as metadata on a small blob beside the results (``segments/{job_id}/inflight/{index}``, no body), and writes the
window's whole length when its result is written (workers may not delete: their role has no delete right). The
status API lists that prefix (one call, metadata included) and adds the audio of the segments its running batches
still wait for (their ``pending`` indices): a segment finished but not yet reported counts in full, once its batch
has counted it the report no longer does, so progress never counts a segment twice nor goes backwards. Best
effort: a lost update only makes progress coarser.
"""

from __future__ import annotations

import contextlib
import logging
import time
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
        self._write({"audio_done": f"{done:.2f}"})

    def finished(self) -> None:
        if self._written:  # a segment that never reported progress has nothing to complete
            window = self.job.window
            self._write({"audio_done": f"{window.keep_end_s - window.keep_start_s:.2f}"})

    def _write(self, metadata: dict[str, str]) -> None:
        with contextlib.suppress(Exception):
            self.container.upload_blob(self.name, b"", overwrite=True, metadata=metadata)
            self._written = True


def inflight_audio_s(container: Any, job_id: str, pending: set[int]) -> float:
    """Audio seconds decoded so far by the job's segments its batches still wait for (0 when the listing fails)."""
    total, prefix = 0.0, inflight_prefix(job_id)
    try:
        for blob in container.list_blobs(name_starts_with=prefix, include=["metadata"]):
            index = blob.name[len(prefix) :]
            if index.isdigit() and int(index) in pending:
                total += float((blob.metadata or {}).get("audio_done") or 0.0)
    except Exception:
        logger.warning("in-flight progress unavailable job_id=%s", job_id, exc_info=True)
        return 0.0
    return total
