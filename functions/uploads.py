"""``POST /api/uploads`` and ``GET /api/uploads/{job_id}``: upload sessions for very large files."""

from __future__ import annotations

import azure.functions as func

from functions.http_support import api_errors, base_url, json_response, parse_body, who
from shared.models import UploadRequest
from shared.upload_sessions import upload_sessions

bp = func.Blueprint()


@bp.route(route="uploads", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@api_errors
def create_upload(req: func.HttpRequest) -> func.HttpResponse:
    """Validate the request, persist the job and return a SAS URL plus the block plan."""
    request = parse_body(req, UploadRequest)
    origin = base_url(req)
    session, replayed = upload_sessions().create(request, req.headers.get("Idempotency-Key"), origin, who(req))
    headers = {"Location": session.upload_status_url}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(session, status=201, headers=headers)


@bp.route(route="uploads/{job_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@api_errors
def get_upload(req: func.HttpRequest) -> func.HttpResponse:
    """What has arrived so far, and a fresh SAS while the session is open: enough to resume."""
    origin = base_url(req)
    session = upload_sessions().describe(req.route_params["job_id"], origin, who(req))
    return json_response(session, headers={"Cache-Control": "no-store"})
