"""``POST /api/uploads`` and ``GET /api/uploads/{job_id}``: upload sessions for very large files."""

from __future__ import annotations

from datetime import UTC, datetime

import azure.functions as func

from functions.api.http import api_errors, base_url, json_response, parse_body, who
from shared.jobs.records import JobTrace, UploadRequest
from shared.telemetry import tracing
from shared.telemetry.names import Attr, Span
from shared.uploads.sessions import upload_sessions

bp = func.Blueprint()


@bp.route(route="uploads", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@api_errors
def create_upload(req: func.HttpRequest) -> func.HttpResponse:
    """Validate the request, persist the job and return a SAS URL plus the block plan.

    The job's trace starts here: the job span's ids are chosen now and kept on the record (the span itself is
    written when the job ends); this request is its first child. A caller's ``traceparent`` becomes the parent.
    """
    caller = req.headers.get("traceparent") if tracing.parse(req.headers.get("traceparent")) else None
    trace = JobTrace(job=tracing.new_traceparent(caller), caller=caller, started_at=datetime.now(UTC))
    with tracing.span(Span.UPLOAD_CREATE, trace.job, kind=tracing.SERVER) as span:
        request = parse_body(req, UploadRequest)
        origin = base_url(req)
        key = req.headers.get("Idempotency-Key")
        session, replayed = upload_sessions().create(request, key, origin, who(req), trace)
        span.set_attribute(Attr.JOB_ID, session.job_id)
    headers = {"Location": session.upload_status_url}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(session, status=201, headers=headers)


@bp.route(route="uploads/{job_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@api_errors
def get_upload(req: func.HttpRequest) -> func.HttpResponse:
    """What has arrived so far, and a fresh SAS while the session is open: enough to resume.

    A resuming client passes ``?file_fingerprint=`` of the file it holds: another file is refused (``file_changed``)
    here, before it sends a block that would be spliced with the first file's."""
    origin = base_url(req)
    fingerprint = req.params.get("file_fingerprint") or None
    session = upload_sessions().describe(req.route_params["job_id"], origin, who(req), fingerprint)
    return json_response(session, headers={"Cache-Control": "no-store"})
