"""``/api/jobs/{job_id}``: status for customers and Logic Apps, cancellation, transcript download.

Logic Apps' HTTP action polls a ``202`` with ``Location`` and ``Retry-After`` until it gets anything else, and
only retries 408/429/5xx. So: running states answer 202, a completed job 200, a failed job a final 422 problem
(the job's own error code inside), a canceled job a final 409 problem. 5xx is kept for our own trouble.

A record that says "running" while its orchestration says otherwise (terminated from outside, failed before it
could write the record, gone) is settled here, so no poller waits forever: ``orchestration_lost``, or the
orchestration's own result or error code when it has one.

The async handlers run every blocking storage call in a thread (``asyncio.to_thread``): the Python worker runs
async functions on one event loop, and a blocking call there stalls every other invocation.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import azure.durable_functions as df
import azure.functions as func

from functions.api.http import api_errors, base_url, json_response, problem_response, who
from shared.azure import storage
from shared.azure.paths import transcript_blob
from shared.azure.queues import queue
from shared.config import get_settings
from shared.contracts import BATCH_CLEANUP_QUEUE, BatchCleanup
from shared.errors import ErrorCode, PermanentError, ServiceError, TransientError
from shared.jobs import lifecycle as job_lifecycle
from shared.jobs.inflight import InflightReport, inflight_report
from shared.jobs.progress import add_heard, languages_field, progress, seconds_of
from shared.jobs.queue_wait import QueueWait, queue_backlog, queue_wait
from shared.jobs.records import JobRecord, JobStatus
from shared.jobs.spans import job_canceled
from shared.jobs.store import JobStore, job_store
from shared.jobs.views import FORMATS, RUNNING, JobPage, JobView, job_view, retry_after_s
from shared.telemetry import job_metrics
from shared.transcripts.formats import BY_EXTENSION

bp = df.Blueprint()
logger = logging.getLogger(__name__)
INLINE_LIMIT = 256 * 1024  # smaller transcripts are returned directly; larger ones by a redirect to a read SAS


def _jobs() -> JobStore:
    return job_store()


def _record(req: func.HttpRequest) -> JobRecord:
    """The caller's own job; another caller's job is reported as not found, in every endpoint."""
    return _expire_if_abandoned(_jobs().get_owned(req.route_params["job_id"], who(req)))


def _expire_if_abandoned(record: JobRecord) -> JobRecord:
    """A session whose time ran out with nothing committed is over: the job fails for good with ``upload_expired``
    (written back, so listings agree), instead of answering 202 to its pollers forever. Its SAS expired with it
    (shared/uploads/sessions.py never signs past the session), so no commit can follow; a commit that made it in
    time but has not reached the blob trigger yet is left to start its job."""
    if record.status != JobStatus.AWAITING_UPLOAD or datetime.now(UTC) < record.session_expires_at:
        return record
    if _upload_committed(record):
        return record
    expired_now = False

    def expire(current: JobRecord) -> JobRecord:
        nonlocal expired_now
        after = job_lifecycle.expired(current, datetime.now(UTC))  # not when a commit or a cancel got there first
        expired_now = job_lifecycle.ends(current, after)
        return after

    expired = _jobs().update(record.job_id, expire)
    if expired_now:  # counted once, by the request that settled it
        logger.info("upload session expired job_id=%s", record.job_id)
        job_metrics.job_finished(record.filename, "failed", ErrorCode.UPLOAD_EXPIRED.slug, 0.0, 0.0, active=False)
    return expired


async def _view(req: func.HttpRequest, record: JobRecord, client: df.DurableOrchestrationClient) -> JobView:
    custom: dict[str, Any] | None = None
    if record.status in RUNNING and record.status != JobStatus.AWAITING_UPLOAD:
        try:
            status = await client.get_status(record.job_id)
            record = await asyncio.to_thread(_reconciled, record, status)
            custom = status.custom_status if status and isinstance(status.custom_status, dict) else None
            custom = await _with_running_batches(client, record, custom)
        except ServiceError:
            raise
        except Exception as exc:  # the durable store answered 503 (busy) or not at all: the caller should retry
            logger.warning("orchestration status unavailable job_id=%s: %s", record.job_id, type(exc).__name__)
            raise TransientError("the job's progress cannot be read right now; retry shortly") from None
    settings = get_settings()
    signer = storage.blob_signer()
    return await asyncio.to_thread(job_view, record, custom, base_url(req), signer, settings.results_container)


async def _with_running_batches(
    client: df.DurableOrchestrationClient, record: JobRecord, custom: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The job's orchestration counts finished batches; add what its running batches (a few) have done so far, and
    how far the segments being transcribed right now have got (shared/jobs/inflight.py)."""
    ids = (custom or {}).get("running_batches")
    if not custom or not isinstance(ids, list) or not ids:
        return custom
    statuses = await asyncio.gather(*(client.get_status(str(i)) for i in ids[:MAX_RUNNING_BATCHES]))
    parts = [s.custom_status for s in statuses if s and isinstance(s.custom_status, dict)]
    total = int(custom.get("segments_total", 0))
    done = min(total, int(custom.get("segments_done", 0)) + sum(int(p.get("segments_done", 0)) for p in parts))
    audio_total = float(custom.get("audio_seconds_total", 0.0))
    running_audio = sum(float(p.get("audio_seconds_done", 0.0)) for p in parts)
    segments = storage.container(get_settings().segments_container)
    pending = {int(i) for p in parts for i in p.get("pending", []) if isinstance(i, int)}
    report = await asyncio.to_thread(inflight_report, segments, record.job_id, pending) if pending else None
    in_flight = report.audio_s if report else 0.0
    audio = min(audio_total, float(custom.get("audio_seconds_done", 0.0)) + running_audio + in_flight)
    started = record.committed_at or record.created_at
    waits = await asyncio.to_thread(_queue_wait, record.job_id, report, pending) if report else QueueWait()
    heard = seconds_of(custom.get("languages"))  # the finished batches' count, and each running batch's so far
    for part in parts:
        add_heard(heard, seconds_of(part.get("languages")))
    now = datetime.now(UTC)
    fields = {**waits.fields(), "languages": languages_field(heard)}
    return progress(str(custom.get("stage")), done, total, audio, audio_total, started, now, **fields)


def _queue_wait(job_id: str, report: InflightReport, pending: set[int]) -> QueueWait:
    """Whether the pending segments still wait in the shared queue (shared/jobs/queue_wait.py)."""
    segment_queue = queue(get_settings().segment_jobs_queue)
    return queue_wait(report, pending, lambda: queue_backlog(segment_queue, job_id))


# functions/pipeline/orchestrator.py keeps far fewer in flight; a bound on what a status GET reads
MAX_RUNNING_BATCHES = 64


# A queued job's orchestration may not exist for a moment (the blob trigger starts it); after this, it is lost.
ORCHESTRATION_START_GRACE = timedelta(minutes=10)


def _reconciled(record: JobRecord, status: df.DurableOrchestrationStatus | None) -> JobRecord:
    """The record as the orchestration's runtime status says it must be; written back when it changed."""
    settle = _settlement(record, status, datetime.now(UTC))
    if settle is None:
        return record
    settled = _jobs().update(record.job_id, settle)
    logger.warning("job settled from its orchestration job_id=%s status=%s", record.job_id, settled.status.value)
    return settled


Settle = Callable[[JobRecord], JobRecord]


def _settlement(record: JobRecord, status: df.DurableOrchestrationStatus | None, now: datetime) -> Settle | None:
    """The transition (``shared/jobs/lifecycle.py``) that settles a running record whose orchestration has ended or
    is gone, or ``None`` while it may still be running; applied to the record as stored, so a job that finished
    meanwhile stays as it is."""
    runtime = status.runtime_status if status else None
    done = df.OrchestrationRuntimeStatus
    if runtime == done.Completed and status is not None and isinstance(status.output, dict):
        result = status.output
        return lambda current: job_lifecycle.completed(current, result, now)
    if runtime in (done.Failed, done.Terminated, done.Canceled) and status is not None:
        error = (status.custom_status or {}).get("error") if isinstance(status.custom_status, dict) else None
        if isinstance(error, dict) and error.get("code"):
            code, message = ErrorCode.from_slug(str(error["code"])), str(error.get("message") or "the job failed")
        else:
            code, message = ErrorCode.ORCHESTRATION_LOST, f"the orchestration was {runtime.value.lower()}"
        return lambda current: job_lifecycle.failed(current, code, message, now)
    started = record.committed_at or record.updated_at
    if runtime is None and (record.status != JobStatus.QUEUED or now - started > ORCHESTRATION_START_GRACE):
        lost = "the job's orchestration no longer exists"
        return lambda current: job_lifecycle.failed(current, ErrorCode.ORCHESTRATION_LOST, lost, now)
    return None


def _respond(view: JobView) -> func.HttpResponse:
    if view.status in RUNNING:
        headers = {"Location": view.status_url, "Retry-After": str(retry_after_s(view)), "Cache-Control": "no-store"}
        return json_response(view, status=202, headers=headers)
    if view.status == JobStatus.COMPLETED:
        return json_response(view, headers={"Cache-Control": "no-store"})
    if view.status == JobStatus.CANCELED:
        error = PermanentError(ErrorCode.JOB_CANCELED, "the job was canceled", job=view.model_dump(mode="json"))
        return problem_response(error, f"/api/jobs/{view.job_id}")
    code = view.error.code if view.error else ErrorCode.TRANSCRIPTION_FAILED.slug
    message = view.error.message if view.error else "the job failed"
    error = PermanentError(ErrorCode.JOB_FAILED, message, job_error_code=code, job=view.model_dump(mode="json"))
    return problem_response(error, f"/api/jobs/{view.job_id}")


@bp.route(route="jobs/{job_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@api_errors
async def get_job(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Job status: 202 while it runs (poll Location after Retry-After), 200 with links when done."""
    record = await asyncio.to_thread(_record, req)
    if record.status == JobStatus.AWAITING_UPLOAD and await asyncio.to_thread(_upload_committed, record):
        # Committed, but the blob trigger has not picked it up yet: say so, so pollers don't wait 30 s.
        record = job_lifecycle.shown_as_queued(record)
    return _respond(await _view(req, record, client))


def _upload_committed(record: JobRecord) -> bool:
    blob = storage.container(get_settings().uploads_container).get_blob_client(record.blob_name)
    with storage.storage_errors("check upload", record.job_id):
        return bool(blob.exists())


@bp.route(route="jobs/{job_id}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@api_errors
async def cancel_job(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Cancel: record first (workers skip its segments), then stop the orchestration. Repeating it is harmless."""
    record = await asyncio.to_thread(_record, req)
    if record.status in (JobStatus.COMPLETED, JobStatus.FAILED):
        raise PermanentError(ErrorCode.JOB_FINISHED, f"the job is already {record.status.value}; nothing to cancel")

    canceled_now = False

    def cancel(current: JobRecord) -> JobRecord:
        nonlocal canceled_now
        after = job_lifecycle.canceled(current, datetime.now(UTC))
        canceled_now = job_lifecycle.ends(current, after)
        return after

    record = await asyncio.to_thread(_jobs().update, record.job_id, cancel)
    if canceled_now:
        job_canceled(record)
    status = await client.get_status(record.job_id)
    if status and status.runtime_status in (
        df.OrchestrationRuntimeStatus.Running,
        df.OrchestrationRuntimeStatus.Pending,
        df.OrchestrationRuntimeStatus.Suspended,
    ):
        await client.terminate(record.job_id, "canceled by the customer")
        batches = (status.custom_status or {}).get("batches") if isinstance(status.custom_status, dict) else None
        if isinstance(batches, int) and batches > 0:  # termination does not reach sub-orchestrations
            message = BatchCleanup(job_id=record.job_id, batches=batches).message()
            await asyncio.to_thread(queue(BATCH_CLEANUP_QUEUE).send_message, message)
    logger.info("job canceled job_id=%s", record.job_id)
    view = await _view(req, record, client)
    return json_response(view, status=202 if record.status == JobStatus.CANCELED else 409)


@bp.route(route="jobs/{job_id}/transcript", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@api_errors
def get_transcript(req: func.HttpRequest) -> func.HttpResponse:
    """The transcript in one format: the content itself when small, else a redirect to a short-lived link."""
    record = _record(req)
    fmt = (req.params.get("format") or "json").lower()
    if fmt not in FORMATS:
        raise PermanentError(
            ErrorCode.VALIDATION_ERROR,
            f"format must be one of {', '.join(FORMATS)}",
            errors=[{"field": "format", "message": "unknown format", "type": "enum"}],
        )
    if record.status != JobStatus.COMPLETED:
        raise PermanentError(ErrorCode.TRANSCRIPT_NOT_READY, f"the job is {record.status.value}; no transcript yet")
    settings = get_settings()
    blob = storage.container(settings.results_container).get_blob_client(transcript_blob(record.job_id, fmt))
    size = blob.get_blob_properties().size
    if size <= INLINE_LIMIT:
        served = BY_EXTENSION[fmt]
        return func.HttpResponse(
            blob.download_blob().readall(),
            mimetype=served.media_type,
            headers={"Content-Type": served.content_type},
        )
    view = job_view(record, None, base_url(req), storage.blob_signer(), settings.results_container)
    assert view.result is not None
    return func.HttpResponse(status_code=302, headers={"Location": view.result.transcripts[fmt]})


MAX_PAGE = 100


@bp.route(route="jobs", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@api_errors
def list_jobs(req: func.HttpRequest) -> func.HttpResponse:
    """The caller's jobs, newest first; ``status`` filters, ``continuation`` (from the last page) pages on."""
    limit = _limit(req.params.get("limit"))
    wanted = req.params.get("status")
    if wanted is not None and wanted not in {s.value for s in JobStatus}:
        raise PermanentError(
            ErrorCode.VALIDATION_ERROR,
            f"status must be one of {', '.join(s.value for s in JobStatus)}",
            errors=[{"field": "status", "message": "unknown status", "type": "enum"}],
        )
    settings, store = get_settings(), _jobs()
    origin = base_url(req)
    ids, marker = store.list_owned(who(req), limit, _marker(req.params.get("continuation")))
    token = _token(marker)
    records = [_expire_if_abandoned(store.get(job_id)) for job_id in ids]
    views = [
        job_view(r, None, origin, storage.blob_signer(), settings.results_container)
        for r in records
        if wanted is None or r.status.value == wanted
    ]
    page = JobPage(
        jobs=views,
        continuation=token,
        next_url=f"{origin}/api/jobs?{urlencode(_next_query(req, token))}" if token else None,
    )
    return json_response(page, headers={"Cache-Control": "no-store"})


def _token(marker: str | None) -> str | None:
    """Our continuation token wraps the storage marker, so that junk is refused before it reaches storage."""
    return base64.urlsafe_b64encode(f"v1:{marker}".encode()).decode().rstrip("=") if marker else None


def _marker(token: str | None) -> str | None:
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not text.startswith("v1:") or not text[3:] or not text[3:].isprintable():
        raise PermanentError(
            ErrorCode.VALIDATION_ERROR,
            "continuation must be a token from a previous page",
            errors=[{"field": "continuation", "message": "not a continuation token", "type": "token"}],
        )
    return text[3:]


def _limit(raw: str | None) -> int:
    if raw is None:
        return 20
    # ASCII digits only: str.isdigit() accepts "²", which int() refuses; and few of them: int() refuses more than
    # 4,300 digits (sys.get_int_max_str_digits), which was a 500
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not 1 <= int(raw) <= MAX_PAGE:
        raise PermanentError(
            ErrorCode.VALIDATION_ERROR,
            f"limit must be an integer from 1 to {MAX_PAGE}",
            errors=[{"field": "limit", "message": "out of range", "type": "range"}],
        )
    return int(raw)


def _next_query(req: func.HttpRequest, token: str) -> dict[str, str]:
    query = {k: v for k, v in req.params.items() if k in ("limit", "status")}
    query["continuation"] = token
    return query
