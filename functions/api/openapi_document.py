"""OpenAPI documents generated from the pydantic models, so the contract cannot drift from the code.

3.1 is served at ``/api/openapi.json``; 2.0 (Swagger) is what Logic Apps / Power Platform custom connectors import,
written to ``docs/connector/openapi2.json`` by ``python -m functions.api.openapi_document --swagger2``, with the
connection's parameters in ``docs/connector/apiProperties.json`` (``--api-properties``); a test checks both
committed files are current.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

from shared.jobs.records import JobStatus, UploadRequest, UploadSession
from shared.jobs.views import JobPage, JobView
from shared.transcripts.formats import EXTENSIONS
from shared.transcripts.formats import FORMATS as OUTPUT_FORMATS

TITLE = "Transcription service"
VERSION = "1.0.0"


class Problem(BaseModel):
    """RFC 9457 problem details; ``code`` is stable, extra members depend on the code."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None


class Health(BaseModel):
    status: str
    checks: dict[str, dict[str, Any]]


_MODELS: list[type[BaseModel]] = [UploadRequest, UploadSession, JobView, JobPage, Problem, Health]
_JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The job id returned by Create upload",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    media = "application/problem+json" if model is Problem else "application/json"
    response: dict[str, Any] = {"description": description, "content": {media: {"schema": _ref(model)}}}
    if headers:
        response["headers"] = headers
    return response


def _problems(*statuses: int) -> dict[str, Any]:
    return {str(s): _json(Problem, "A problem with a stable code") for s in statuses}


_POLL_HEADERS = {
    "Location": {"description": "Poll this URL", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before polling again", "schema": {"type": "integer"}},
}


def _paths() -> dict[str, Any]:
    return {
        "/uploads": {
            "post": {
                "operationId": "CreateUpload",
                "summary": "Create upload",
                "description": "Start an upload session: a SAS URL for the one blob and the block plan.",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "Retrying with the same key returns the same session instead of a new job.",
                    }
                ],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(UploadRequest)}}},
                "responses": {"201": _json(UploadSession, "The upload session"), **_problems(400, 413, 415, 422, 503)},
            }
        },
        "/uploads/{job_id}": {
            "get": {
                "operationId": "GetUpload",
                "summary": "Get upload",
                "parameters": [
                    _JOB_ID,
                    {
                        "name": "file_fingerprint",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "The fingerprint of the file about to be resumed: another file is refused "
                        "with 409 file_changed.",
                    },
                ],
                "description": "What has arrived, and a fresh SAS while the session is open.",
                "responses": {"200": _json(UploadSession, "The upload session"), **_problems(404, 409, 503)},
            }
        },
        "/jobs": {
            "get": {
                "operationId": "ListJobs",
                "summary": "List jobs",
                "description": "Your jobs, newest first.",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": [s.value for s in JobStatus]},
                        "description": "Only jobs in this state.",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                        "description": "Jobs per page (1-100, default 20).",
                    },
                    {
                        "name": "continuation",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "The continuation token of the previous page.",
                    },
                ],
                "responses": {"200": _json(JobPage, "A page of jobs"), **_problems(422, 503)},
            }
        },
        "/jobs/{job_id}": {
            "get": {
                "operationId": "GetJob",
                "summary": "Get job status",
                "parameters": [_JOB_ID],
                "description": "202 while running (poll Location after Retry-After); 200 when completed.",
                "responses": {
                    "200": _json(JobView, "Completed"),
                    "202": _json(JobView, "Running", _POLL_HEADERS),
                    **_problems(404, 409, 422, 503),
                },
            },
            "delete": {
                "operationId": "CancelJob",
                "summary": "Cancel job",
                "parameters": [_JOB_ID],
                "description": "Stop the job; repeating it is harmless.",
                "responses": {"202": _json(JobView, "Canceled"), **_problems(404, 409, 503)},
            },
        },
        "/jobs/{job_id}/transcript": {
            "get": {
                "operationId": "GetTranscript",
                "summary": "Get transcript",
                "parameters": [
                    _JOB_ID,
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": list(EXTENSIONS), "default": "json"},
                        "description": "Transcript format: "
                        + ", ".join(f"{f.ext} ({f.holds})" for f in OUTPUT_FORMATS)
                        + ".",
                    },
                ],
                "description": "The transcript, or a redirect to a short-lived read link for large ones.",
                "responses": {
                    "200": {
                        "description": "The transcript",
                        "content": {
                            f.media_type: {"schema": {"type": "string"} if f.text else {}} for f in OUTPUT_FORMATS
                        },
                    },
                    "302": {"description": "A read link", "headers": {"Location": _POLL_HEADERS["Location"]}},
                    **_problems(404, 409, 422, 503),
                },
            }
        },
        "/health": {
            "get": {
                "operationId": "Health",
                "summary": "Check service health",
                "description": "Whether storage and the orchestration backend are reachable; needs no key.",
                "security": [],
                "responses": {"200": _json(Health, "Healthy"), "503": _json(Health, "Degraded")},
            }
        },
    }


def openapi31(server: str = "/api") -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(m, "serialization") for m in _MODELS], ref_template="#/components/schemas/{model}"
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Upload very large audio files, follow transcription, fetch transcripts.",
        },
        "servers": [{"url": server}],
        "security": [{"functionKey": []}],
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"}},
        },
        "paths": _paths(),
    }


def main(argv: list[str]) -> int:
    if "--swagger2" in argv:
        from functions.api.swagger2 import swagger2

        document = swagger2(openapi31())
    elif "--api-properties" in argv:
        from functions.api.swagger2 import api_properties

        document = api_properties()
    else:
        document = openapi31()
    print(json.dumps(document, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
