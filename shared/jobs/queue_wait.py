"""Whether a job's segments still wait in the shared segment queue for a worker, as the status API reports it.

Behind other jobs' work a job's dispatched segments can wait minutes before any worker takes one. Counted by
finished audio alone, its progress then reads "transcribing 0.0 %, ETA unknown" all that time, which looks like a
hang. A worker marks a segment taken before it starts it (``shared/jobs/inflight.py``), so a pending segment without a
mark has not left the queue; the queue's approximate length says how much work, of every job, waits with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.jobs.inflight import InflightReport

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueWait:
    pending: int = 0  # segments the job's running batches still wait for
    waiting: int = 0  # of those, the ones no worker has taken yet
    backlog: int | None = None  # segments of all jobs in the shared queue (approximate); None: not read or unknown

    def fields(self) -> dict[str, Any]:
        """The members of the status API's ``progress`` (``shared/jobs/views.py`` ``Progress``)."""
        return {
            "waiting_for_worker": self.pending > 0 and self.waiting == self.pending,
            "segments_waiting": self.waiting,
            "queue_backlog": self.backlog,
        }


def queue_wait(report: InflightReport, pending: set[int], backlog: Callable[[], int | None]) -> QueueWait:
    """Nothing is claimed when the in-flight listing failed; the queue is read only when something waits in it."""
    if not report.known or not pending:
        return QueueWait()
    waiting = len(pending - report.taken)
    return QueueWait(len(pending), waiting, backlog() if waiting else None)


def queue_backlog(queue_client: Any, job_id: str) -> int | None:
    """The queue's approximate message count, or None when it cannot be read (the status still answers)."""
    try:
        return int(queue_client.get_queue_properties().approximate_message_count or 0)
    except Exception as exc:
        logger.warning("segment queue length unavailable job_id=%s: %s", job_id, type(exc).__name__)
        return None
