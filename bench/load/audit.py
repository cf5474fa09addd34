"""After the load: is every job there exactly once, and is nothing left behind?

Counted from every place a job leaves a trace, not from what the load believes it sent: the API's listing, the
job records in storage, the orchestrations the durable engine holds, the host's and the workers' logs (each job
started once, each segment worked once), and every queue in storage (empty, poison queues included).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devhost.stack import LocalStack
from shared.config import Settings

_STARTED = re.compile(r"transcription started job_id=([0-9a-f-]+)")
_SEGMENT = re.compile(r"segment started job_id=([0-9a-f-]+) index=(\d+)")
DURABLE = "/runtime/webhooks/durabletask/instances"


def problems(stack: LocalStack, jobs: list[str], listed: list[str], queue_wait_s: float = 60.0) -> list[str]:
    """Everything that says a job was lost, doubled or left something behind; empty when all is well."""
    expected = Counter(jobs)
    found = [f"the load itself made job {j} {n} times" for j, n in expected.items() if n > 1]
    found += _compare("listed by GET /api/jobs", expected, Counter(listed))
    found += _compare("job records in storage", expected, Counter(_records(stack)))
    found += _compare("orchestrations started (host log)", expected, _log_counts([stack.workdir / "devhost.log"]))
    found += _orchestrations(stack, set(expected))
    found += _segments(stack, set(expected))
    found += _queues_left(stack, queue_wait_s)
    return found


def _compare(where: str, expected: Counter[str], seen: Counter[str]) -> list[str]:
    lost = sorted(set(expected) - set(seen))
    doubled = sorted(j for j, n in seen.items() if n > 1)
    extra = sorted(set(seen) - set(expected))
    out = []
    if lost:
        out.append(f"{where}: {len(lost)} job(s) missing, e.g. {lost[:3]}")
    if doubled:
        out.append(f"{where}: {len(doubled)} job(s) more than once, e.g. {doubled[:3]}")
    if extra:
        out.append(f"{where}: {len(extra)} job(s) nobody created, e.g. {extra[:3]}")
    return out


def _records(stack: LocalStack) -> list[str]:
    container = BlobServiceClient.from_connection_string(stack.connection_string).get_container_client(
        Settings.model_fields["jobs_container"].default
    )
    return [b.name.removeprefix("records/").removesuffix(".json") for b in container.list_blobs("records/")]


def _log_counts(paths: Iterable[Path], pattern: re.Pattern[str] = _STARTED) -> Counter[str]:
    counts: Counter[str] = Counter()
    for path in paths:
        with path.open(errors="replace") as log:  # a line at a time: the logs of a long run are large
            for line in log:
                for match in pattern.finditer(line):
                    counts["/".join(match.groups())] += 1
    return counts


def _orchestrations(stack: LocalStack, jobs: set[str], settle_s: float = 30.0) -> list[str]:
    """Every job's ``transcription`` instance completed, and no other top-level instance exists. A job's record is
    final a moment before its orchestration returns (its status is one of the last activities), so an instance
    still running is looked at again for up to ``settle_s``; one running after that is reported."""
    deadline = time.monotonic() + settle_s
    while True:
        out = _orchestrations_now(stack, jobs)
        if not any("not completed" in line for line in out) or time.monotonic() >= deadline:
            return out
        time.sleep(0.5)


def _orchestrations_now(stack: LocalStack, jobs: set[str]) -> list[str]:
    instances: list[dict[str, Any]] = []
    with httpx.Client(base_url=stack.base_url, params=stack.durable_params, timeout=60) as http:
        token = None
        while True:
            response = http.get(DURABLE, headers={"x-ms-continuation-token": token} if token else {})
            response.raise_for_status()
            instances += response.json()
            token = response.headers.get("x-ms-continuation-token")
            if not token:
                break
    top = [i for i in instances if i["name"] == "transcription"]
    out = _compare("transcription orchestrations", Counter(jobs), Counter(i["instanceId"] for i in top))
    unfinished = [i["instanceId"] for i in top if i["runtimeStatus"] != "Completed"]
    if unfinished:
        out.append(f"{len(unfinished)} orchestration(s) not completed, e.g. {unfinished[:3]}")
    return out


def _segments(stack: LocalStack, jobs: set[str]) -> list[str]:
    """Every job's segments worked, each exactly once, by the workers (their logs)."""
    counts = _log_counts([w.log_path for w in stack.workers], _SEGMENT)
    out = _compare("jobs whose segments the workers worked", Counter(jobs), Counter({k.split("/")[0] for k in counts}))
    twice = sorted(k for k, n in counts.items() if n > 1)
    if twice:
        out.append(f"{len(twice)} segment(s) worked more than once, e.g. {twice[:3]}")
    return out


def _queues_left(stack: LocalStack, wait_s: float) -> list[str]:
    """Every queue empty (Azure's approximate count includes invisible messages), given ``wait_s`` to drain."""
    service = QueueServiceClient.from_connection_string(stack.connection_string)
    deadline = time.monotonic() + wait_s
    while True:
        left = {}
        for q in service.list_queues():
            count = service.get_queue_client(q.name).get_queue_properties().approximate_message_count
            if count:
                left[q.name] = count
        if not left or time.monotonic() > deadline:
            return [f"queue {name} holds {n} message(s) at the end" for name, n in sorted(left.items())]
        time.sleep(1)
