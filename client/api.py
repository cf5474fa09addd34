"""Talk to the transcription API: create and inspect upload sessions, with problem+json errors as exceptions."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class ApiError(Exception):
    """An error answer from the API; ``code`` is the stable problem code (or ``http_<status>``)."""

    def __init__(self, status: int, code: str, detail: str, problem: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code} ({status}): {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.problem = problem or {}


def _raise_for_problem(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if isinstance(problem, dict) and "code" in problem:
        raise ApiError(response.status_code, str(problem["code"]), str(problem.get("detail", "")), problem)
    hint = " (check the API key)" if response.status_code == 401 else ""
    raise ApiError(response.status_code, f"http_{response.status_code}", f"{response.reason_phrase}{hint}")


class TranscriptionApi:
    def __init__(self, base_url: str, key: str | None, timeout_s: float = 30.0, attempts: int = 5) -> None:
        headers = {"x-functions-key": key} if key else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)
        self._attempts = attempts

    def close(self) -> None:
        self._http.close()

    def create_upload(self, body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """POST /api/uploads; the idempotency key makes our own retries safe (same key, same session)."""
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        return self._request("POST", "/api/uploads", json=body, headers=headers)

    def get_upload(self, job_id: str, file_fingerprint: str | None = None) -> dict[str, Any]:
        """GET /api/uploads/{job_id}; with the fingerprint of the file about to be resumed, another file is
        refused by the service (``ApiError`` with code ``file_changed``)."""
        params = {"file_fingerprint": file_fingerprint} if file_fingerprint else None
        return self._request("GET", f"/api/uploads/{job_id}", params=params)

    def get_job(self, job_id: str) -> tuple[bool, dict[str, Any], float]:
        """(finished, job, seconds to wait before asking again). A failed or canceled job raises ApiError."""
        response = self._http.get(f"/api/jobs/{job_id}")
        if response.status_code == 202:
            retry = response.headers.get("Retry-After", "5")
            return False, response.json(), float(retry) if retry.isdigit() else 5.0
        _raise_for_problem(response)
        return True, response.json(), 0.0

    def transcript(self, job_id: str, fmt: str) -> bytes:
        """One format of the transcript; a redirect to a read link is followed without our key."""
        response = self._http.get(f"/api/jobs/{job_id}/transcript", params={"format": fmt})
        if response.status_code in (301, 302, 303, 307):
            with httpx.Client(timeout=self._http.timeout) as plain:  # never send the function key to storage
                response = plain.get(response.headers["Location"])
        _raise_for_problem(response)
        return response.content

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError:
                if attempt == self._attempts:
                    raise
                time.sleep(min(2**attempt * 0.25, 10))
                continue
            if response.status_code in RETRYABLE_STATUS and attempt < self._attempts:
                time.sleep(_retry_after(response, attempt))
                continue
            _raise_for_problem(response)
            data: dict[str, Any] = response.json()
            return data
        raise AssertionError("unreachable")


def _retry_after(response: httpx.Response, attempt: int) -> float:
    header = response.headers.get("Retry-After", "")
    return min(float(header), 60.0) if header.isdigit() else min(2**attempt * 0.25, 10.0)
