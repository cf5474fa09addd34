"""The load itself: upload sessions all at once, then small jobs all at once, on one fresh local stack.

Phase ``uploads``: N sessions created together (one in ten sends its create twice at once with one
Idempotency-Key), each putting its blocks through its SAS and committing; their jobs (silence) then run to the
end too. Phase ``jobs``: N speech clips, each its own upload, all followed to completion by polling after
``Retry-After`` as a customer would, and each transcript fetched (txt and json) and checked for its sentence's
words. A dashboard lists the jobs every second throughout. The audit then counts every job everywhere it leaves
a trace (:mod:`bench.load.audit`).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.load import audit
from bench.load.clips import Clip, make_clips, sentences, upload_file
from bench.load.follow import dashboard, follow, list_all, transcript
from bench.load.sessions import upload
from bench.load.timed import Recorder
from bench.load.usage import Usage
from devhost.stack import LocalStack
from tests.support.wer import wer

MIB = 1024 * 1024
# tiny.en on these clips: median 0.08, at most 0.33 over 100 jobs ("barn" heard as "baron"); the six sentences
# score 0.73 or more against one another, so a transcript of the wrong clip cannot pass.
MAX_WER = 0.5


@dataclass
class Outcome:
    """What one phase did (its figures) and what went wrong in it."""

    failures: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Clients:
    recorder: Recorder
    api: httpx.AsyncClient
    storage: httpx.AsyncClient
    deadline: float
    max_poll_s: float | None
    created: list[str] = field(default_factory=list)  # every job id the service handed out


def clients(stack: LocalStack, recorder: Recorder, concurrency: int, deadline: float, poll: float | None) -> Clients:
    limits = httpx.Limits(max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8)
    timeout = httpx.Timeout(120.0, connect=30.0)  # long: a slow answer is measured, not turned into an error
    api = httpx.AsyncClient(
        base_url=stack.base_url, headers={"x-functions-key": stack.function_key}, limits=limits, timeout=timeout
    )
    return Clients(recorder, api, httpx.AsyncClient(limits=limits, timeout=timeout), deadline, poll)


async def _gather(steps: Sequence[Awaitable[Any]]) -> tuple[list[Any], list[str]]:
    """Run all at once; the results of those that worked and the failures of the others."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    failures = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    return [r for r in results if not isinstance(r, BaseException)], failures


async def uploads_phase(c: Clients, folder: Path, count: int, seconds: int) -> Outcome:
    path = upload_file(folder, seconds)
    started = time.perf_counter()
    sends = [
        upload(c.recorder, c.api, c.storage, path, c.created, block_size=MIB, twice=i % 10 == 0) for i in range(count)
    ]
    jobs, failures = await _gather(sends)
    uploaded = time.perf_counter() - started
    finished, more = await _gather([follow(c.recorder, c.api, j, c.deadline, c.max_poll_s) for j in jobs])
    failures += more + [
        f"job {job['job_id']} ended {job['status']}" for job in finished if job["status"] != "completed"
    ]
    figures = {
        "sessions": count,
        "file_bytes": path.stat().st_size,
        "blocks_per_upload": -(-path.stat().st_size // MIB),
        "uploads_committed": len(jobs),
        "jobs_completed": sum(job["status"] == "completed" for job in finished),
        "upload_wall_s": round(uploaded, 1),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    return Outcome(failures, figures)


@dataclass(frozen=True)
class Done:
    clip: Clip
    job_id: str
    job: dict[str, Any]  # GET /api/jobs/{id} when it answered 200
    document: dict[str, Any]  # transcript.json
    text: str  # transcript.txt


async def one_job(c: Clients, clip: Clip) -> Done:
    job_id = await upload(c.recorder, c.api, c.storage, clip.path, c.created)
    job = await follow(c.recorder, c.api, job_id, c.deadline, c.max_poll_s)
    text = await transcript(c.recorder, c.api, job_id, "txt")
    document = json.loads(await transcript(c.recorder, c.api, job_id, "json"))
    return Done(clip, job_id, job, document, text)


def _problem(done: Done, texts: list[str], noop: bool) -> str | None:
    """The job's transcript must be its own clip's: its id, file name and duration (every clip's differs from the
    others of its sentence by 10 ms steps), and its sentence's words, closer to it than to any other sentence."""
    doc, clip = done.document, done.clip
    if done.job["status"] != "completed":
        return f"job {done.job_id} ended {done.job['status']}"
    if doc["job_id"] != done.job_id or doc["filename"] != clip.path.name or done.job["filename"] != clip.path.name:
        return f"job {done.job_id} ({clip.path.name}) came back as {doc['job_id']} ({doc['filename']})"
    if abs(float(doc["duration_s"]) - clip.duration_s) > 0.002:
        return f"job {done.job_id} ({clip.path.name}): {doc['duration_s']} s, the clip is {clip.duration_s} s"
    if " ".join(s["text"].strip() for s in doc["segments"]).split() != done.text.split():
        return f"job {done.job_id}: the json and txt transcripts differ"
    if noop:  # the no-op worker transcribes nothing
        return None if not done.text.strip() else f"job {done.job_id}: the no-op worker's transcript has words"
    scores = [wer(t, done.text) for t in texts]
    if scores[clip.sentence] > MAX_WER or min(scores) < scores[clip.sentence]:
        return f"job {done.job_id} ({clip.path.name}): heard {done.text.strip()!r}, expected {clip.text!r}"
    return None


async def jobs_phase(c: Clients, folder: Path, count: int, noop: bool) -> Outcome:
    clips = make_clips(folder, count)
    started = time.perf_counter()
    done, failures = await _gather([one_job(c, clip) for clip in clips])
    wall = time.perf_counter() - started
    texts = sentences()
    failures += [p for d in done if (p := _problem(d, texts, noop))]
    own = sum(_problem(d, texts, noop) is None for d in done)
    # Each clip's sentence and duration differ from every other clip's, so with real workers every transcript's
    # text and duration together are its own (the no-op worker's are all empty: only their durations differ).
    distinct = len({(d.document["text"], d.document["duration_s"]) for d in done})
    if not noop and distinct < len(done):
        failures.append(f"{len(done)} jobs came back with only {distinct} distinct transcripts")
    turnaround = sorted(float(d.job["result"]["turnaround_s"]) for d in done if d.job.get("result"))
    word_errors = sorted(wer(d.clip.text, d.text) for d in done)
    figures = {
        "jobs": count,
        "completed": sum(d.job["status"] == "completed" for d in done),
        "own_transcripts": own,  # its job's id, file name and duration, and its sentence's words
        "distinct_transcripts": distinct,
        "audio_s": round(sum(d.clip.duration_s for d in done), 1),
        "wall_s": round(wall, 1),
        "turnaround_p50_s": round(turnaround[len(turnaround) // 2], 1) if turnaround else None,
        "turnaround_max_s": round(turnaround[-1], 1) if turnaround else None,
        "wer_median": round(word_errors[len(word_errors) // 2], 3) if word_errors and not noop else None,
        "wer_max": round(word_errors[-1], 3) if word_errors and not noop else None,
    }
    return Outcome(failures, figures)


@dataclass(frozen=True)
class LoadOptions:
    uploads: int = 100
    jobs: int = 200
    upload_seconds: int = 160  # 8 kHz silence: 2.4 MiB, three blocks of 1 MiB
    noop: bool = False
    workers: int | None = None  # None: laid out for the machine, as scripts/transcribe does
    timeout_s: float = 1200.0
    max_poll_s: float | None = None
    keep: Path | None = None  # keep the stack's folder (logs, storage) here; None: a temporary one, deleted
    settings: dict[str, str] = field(default_factory=dict)  # app settings over the stack's (--set NAME=VALUE)


def stack_for(options: LoadOptions) -> tuple[LocalStack, str]:
    """The stack scripts/transcribe would start on this machine (its worker layout and windows), or the no-op
    workers: the same service, the model left out. ``keep``: the stack's folder (logs, storage) stays there."""
    from devhost.stack import job_settings, worker_layout
    from worker.layout import window_for

    layout, line = worker_layout(
        "tiny.en", workers=options.workers, threads=None, batch_size=None, names=("--workers", "", "")
    )
    env = {"TRANSCRIBE_EXPECTED_WORKERS": str(layout.processes), **job_settings("tiny.en", window_for(layout))}
    env.update(options.settings)
    if options.noop:
        module = "tests.support.noop_worker"
        stack = LocalStack(env=env, workers=layout.processes, worker_module=module, workdir=options.keep)
        return stack, f"{layout.processes} no-op worker(s)"
    stack = LocalStack(
        env=env,
        workers=layout.processes,
        worker_threads=layout.threads,
        worker_batch_size=layout.batch_size,
        worker_gpus=layout.gpus,
        workdir=options.keep,
    )
    return stack, line


def machine() -> dict[str, Any]:
    """What ran the load, and how busy the machine already was (other work on it skews every figure)."""
    from bench.scale import cpu_model

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "load_average_1m_before": round(os.getloadavg()[0], 2),
    }


def run_load(options: LoadOptions) -> dict[str, Any]:
    """Start a fresh stack, run the phases, audit, stop it; the report (``ok`` says whether it all held)."""
    report: dict[str, Any] = {"machine": machine()}
    folder = Path(tempfile.mkdtemp(prefix="bench-load-"))
    stack, report["layout"] = stack_for(options)
    started = time.perf_counter()
    recorder = Recorder()
    with stack, Usage(stack) as usage:
        report["stack_start_s"] = round(time.perf_counter() - started, 1)
        before = usage.cpu_s()
        try:
            outcomes, created = asyncio.run(_phases(stack, recorder, options, folder, usage))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        report["processes"] = usage.report(before, usage.cpu_s())
        report["machine"]["load_average_1m_after"] = round(os.getloadavg()[0], 2)
        recorder.phase = "audit"
        listed = asyncio.run(_listing(stack, recorder))
        problems = [p for outcome in outcomes.values() for p in outcome.failures]
        problems += audit.problems(stack, created, listed)
    problems += [f"{e['phase']} {e['op']}: {e['status']} {e['detail']}" for e in recorder.errors]
    report["phases"] = {name: outcome.figures for name, outcome in outcomes.items()}
    report["requests"] = recorder.summary()
    report["problems"] = problems
    report["ok"] = not problems
    return report


async def _phases(
    stack: LocalStack, recorder: Recorder, options: LoadOptions, folder: Path, usage: Usage
) -> tuple[dict[str, Outcome], list[str]]:
    """The phases' outcomes (with each part's CPU seconds in each), and every job id the service handed out."""
    concurrency = max(options.uploads * 2, options.jobs)
    c = clients(stack, recorder, concurrency, time.monotonic() + options.timeout_s, options.max_poll_s)
    stop = asyncio.Event()
    lister = asyncio.create_task(dashboard(recorder, c.api, stop))
    outcomes: dict[str, Outcome] = {}
    try:
        if options.uploads:
            recorder.phase, before = "uploads", usage.cpu_s()
            outcomes["uploads"] = await uploads_phase(c, folder, options.uploads, options.upload_seconds)
            outcomes["uploads"].figures["cpu_s"] = usage.spent(before)
        if options.jobs:
            recorder.phase, before = "jobs", usage.cpu_s()
            outcomes["jobs"] = await jobs_phase(c, folder, options.jobs, options.noop)
            outcomes["jobs"].figures["cpu_s"] = usage.spent(before)
    finally:
        stop.set()
        await lister
        await c.api.aclose()
        await c.storage.aclose()
    return outcomes, c.created


async def _listing(stack: LocalStack, recorder: Recorder) -> list[str]:
    async with httpx.AsyncClient(
        base_url=stack.base_url, headers={"x-functions-key": stack.function_key}, timeout=120
    ) as api:
        return await list_all(recorder, api)
