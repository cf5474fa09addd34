"""A job belongs to its creator: another Entra ID principal gets 404 for it everywhere; listings are per caller.

These run against a host with App Service authentication on (``DEVHOST_EASY_AUTH=1``): callers present an Entra ID
bearer token and the platform, not the client, sets the principal headers the app reads.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from devhost.stack import LocalStack

BODY = {"filename": "mine.wav", "size_bytes": 1000}


def bearer(oid: str, expires_in: float = 3600) -> dict[str, str]:
    """An Entra ID access token for ``oid`` (unsigned: the one-machine host cannot check Entra's signature)."""

    def encode(part: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    claims = {"oid": oid, "tid": "tenant", "exp": int(time.time() + expires_in), "preferred_username": f"{oid}@x"}
    return {"Authorization": f"Bearer {encode({'alg': 'RS256', 'typ': 'JWT'})}.{encode(claims)}.c2ln"}


def spoofed(oid: str) -> list[dict[str, str]]:
    """What a key holder without Alice's token might send to pass for her."""
    principal = {"auth_typ": "aad", "claims": [{"typ": "oid", "val": oid}]}
    return [
        {"X-MS-CLIENT-PRINCIPAL-ID": oid},
        {"x-ms-client-principal-id": oid.upper()},
        {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(principal).encode()).decode()},
    ]


@pytest.fixture(scope="module")
def easy_auth_stack() -> Iterator[LocalStack]:
    with LocalStack(env={"DEVHOST_EASY_AUTH": "1"}) as stack:
        yield stack


@pytest.fixture
def api(easy_auth_stack: LocalStack) -> Iterator[httpx.Client]:
    headers = {"x-functions-key": easy_auth_stack.function_key}
    with httpx.Client(base_url=easy_auth_stack.base_url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def alice_oid() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def alice(alice_oid: str) -> dict[str, str]:
    return bearer(alice_oid)


@pytest.fixture
def bob() -> dict[str, str]:
    return bearer(str(uuid.uuid4()))


def test_another_principal_cannot_see_cancel_or_download(api: httpx.Client, alice: dict, bob: dict) -> None:
    job_id = api.post("/api/uploads", json=BODY, headers=alice).json()["job_id"]
    # (call, what Alice gets): her job is awaiting its upload, then canceled; Bob gets 404 for all of it
    for method, path, hers in [
        ("GET", f"/api/uploads/{job_id}", 200),
        ("GET", f"/api/jobs/{job_id}", 202),
        ("GET", f"/api/jobs/{job_id}/transcript", 409),
        ("DELETE", f"/api/jobs/{job_id}", 202),
    ]:
        response = api.request(method, path, headers=bob)
        assert response.status_code == 404, (method, path)
        assert response.json()["code"] == "job_not_found"
        assert api.request(method, path, headers=alice).status_code == hers, (method, path)
    assert api.get(f"/api/jobs/{job_id}").status_code == 404  # the key-only caller is someone else too


def test_idempotency_keys_are_per_caller(api: httpx.Client, alice: dict, bob: dict) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post("/api/uploads", json=BODY, headers={**alice, **key}).json()["job_id"]
    other = api.post("/api/uploads", json=BODY, headers={**bob, **key}).json()["job_id"]
    again = api.post("/api/uploads", json=BODY, headers={**alice, **key}).json()["job_id"]
    assert first == again != other


def test_listing_is_per_caller_newest_first_filtered_and_paged(api: httpx.Client, alice: dict, bob: dict) -> None:
    mine = [api.post("/api/uploads", json=BODY, headers=alice).json()["job_id"] for _ in range(3)]
    theirs = api.post("/api/uploads", json=BODY, headers=bob).json()["job_id"]
    api.delete(f"/api/jobs/{mine[0]}", headers=alice)

    first = api.get("/api/jobs", params={"limit": 2}, headers=alice).json()
    assert [j["job_id"] for j in first["jobs"]] == [mine[2], mine[1]]
    assert first["continuation"] and first["next_url"]
    second = httpx.get(first["next_url"], headers={**alice, "x-functions-key": api.headers["x-functions-key"]}).json()
    assert [j["job_id"] for j in second["jobs"]] == [mine[0]]
    assert second["continuation"] is None
    canceled = api.get("/api/jobs", params={"status": "canceled"}, headers=alice).json()
    assert [j["job_id"] for j in canceled["jobs"]] == [mine[0]]
    assert theirs not in {j["job_id"] for j in first["jobs"] + second["jobs"]}
    for limit in ("0", "²", "1e3", "-1", "", "٣"):  # "²" and "٣" pass str.isdigit() but not int(): was a 500
        bad = api.get("/api/jobs", params={"limit": limit}, headers=alice)
        assert (bad.status_code, bad.json()["code"]) == (422, "validation_error"), limit
    assert api.get("/api/jobs", params={"status": "sleeping"}, headers=alice).status_code == 422


@pytest.mark.parametrize("token", ["junk", "dj", "A§𠎜®L", "djE6\u0000"])
def test_forged_continuation_tokens_are_refused_quickly(api: httpx.Client, alice: dict, token: str) -> None:
    response = api.get("/api/jobs", params={"continuation": token}, headers=alice, timeout=5)
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


JOB_CALLS = [
    ("GET", "/api/uploads/{}"),
    ("GET", "/api/jobs/{}"),
    ("GET", "/api/jobs/{}/transcript"),
    ("DELETE", "/api/jobs/{}"),
]


def test_principal_headers_sent_by_a_key_holder_are_not_an_identity(
    api: httpx.Client, alice: dict, alice_oid: str
) -> None:
    """Only the platform sets X-MS-CLIENT-PRINCIPAL*: a caller who sends Alice's id, in any letter case, or a
    principal whose oid is hers, is the plain key holder, and her job does not exist for them."""
    job_id = api.post("/api/uploads", json=BODY, headers=alice).json()["job_id"]
    assert api.get(f"/api/jobs/{job_id}").status_code == 404  # Alice's, not the key holder's
    for headers in spoofed(alice_oid):
        for method, path in JOB_CALLS:
            response = api.request(method, path.format(job_id), headers=headers)
            assert (response.status_code, response.json()["code"]) == (404, "job_not_found"), (headers, path)
        listed = api.get("/api/jobs", headers=headers).json()["jobs"]
        assert job_id not in {j["job_id"] for j in listed}
    assert api.get(f"/api/jobs/{job_id}", headers=alice).status_code == 202  # still hers, still running


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJvaWQiOiAiYSJ9.x",  # no expiry
        "eyJhbGciOiJub25lIn0.eyJleHAiOiA5OTk5OTk5OTk5fQ.x",  # no object id
    ],
)
def test_a_bad_token_is_refused_by_the_platform(api: httpx.Client, token: str) -> None:
    response = api.get("/api/jobs", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.content == b""


def test_an_expired_token_is_refused(api: httpx.Client, alice_oid: str) -> None:
    assert api.get("/api/jobs", headers=bearer(alice_oid, expires_in=-60)).status_code == 401


def test_without_app_service_authentication_principal_headers_are_ignored(stack: LocalStack) -> None:
    """The default host plays App Service with its authentication off: whatever principal headers a client sends,
    the app acts for the key holder (WEBSITE_AUTH_ENABLED is not set, so the app does not trust them)."""
    headers = {"x-functions-key": stack.function_key}
    with httpx.Client(base_url=stack.base_url, headers=headers, timeout=30) as plain:
        oid = str(uuid.uuid4())
        job_id = plain.post("/api/uploads", json=BODY, headers=spoofed(oid)[0]).json()["job_id"]
        assert plain.get(f"/api/jobs/{job_id}").status_code == 202  # the key holder's job, visible without headers
        for headers in spoofed(oid):
            assert plain.get(f"/api/jobs/{job_id}", headers=headers).status_code == 202


@pytest.fixture(scope="module")
def gateway_stack() -> Iterator[LocalStack]:
    """A gateway in front sets the principal headers, and the app is told to trust them."""
    env = {"DEVHOST_PRINCIPAL_HEADERS": "pass", "TRANSCRIBE_TRUST_PRINCIPAL_HEADERS": "true"}
    with LocalStack(env=env) as stack:
        yield stack


@pytest.mark.parametrize(
    "principal",
    [
        base64.b64encode(b'{"claims": null}').decode(),
        base64.b64encode(b'{"claims": [{"typ": "oid", "val": {"x": 1}}]}').decode(),
        base64.b64encode(b"[" * 3000 + b"]" * 3000).decode(),
        "%%% not base64",
    ],
)
def test_a_malformed_trusted_principal_is_not_a_500(gateway_stack: LocalStack, principal: str) -> None:
    headers = {"x-functions-key": gateway_stack.function_key, "X-MS-CLIENT-PRINCIPAL": principal}
    with httpx.Client(base_url=gateway_stack.base_url, headers=headers, timeout=30) as api:
        assert api.get("/api/jobs").status_code == 200  # no principal in it: the key holder's own listing
        assert api.post("/api/uploads", json=BODY).status_code == 201


def test_behind_a_trusted_gateway_its_principal_headers_name_the_caller(gateway_stack: LocalStack) -> None:
    key = {"x-functions-key": gateway_stack.function_key}
    with httpx.Client(base_url=gateway_stack.base_url, headers=key, timeout=30) as api:
        oid = str(uuid.uuid4())
        job_id = api.post("/api/uploads", json=BODY, headers={"X-MS-CLIENT-PRINCIPAL-ID": oid}).json()["job_id"]
        assert api.get(f"/api/jobs/{job_id}").status_code == 404
        assert api.get(f"/api/jobs/{job_id}", headers={"X-MS-CLIENT-PRINCIPAL-ID": oid.upper()}).status_code == 202


def _completed_for_its_owner(stack: LocalStack, job_id: str, marker: str) -> None:
    """Finish a job as the pipeline would (record completed, transcripts written), without running the pipeline:
    what is tested is who may read the result, not how it was made."""
    from datetime import UTC, datetime

    from azure.storage.blob import BlobServiceClient

    from shared.jobs.records import JobStatus
    from shared.jobs.store import JobStore
    from shared.jobs.views import FORMATS

    service = BlobServiceClient.from_connection_string(stack.connection_string)
    for fmt in FORMATS:
        service.get_blob_client("results", f"{job_id}/transcript.{fmt}").upload_blob(f"{marker} said {fmt}")
    now = datetime.now(UTC)
    summary = {"duration_s": 1.0, "language": "en", "words": 2, "segments": 1, "model": "tiny.en"}
    change = {"status": JobStatus.COMPLETED, "committed_at": now, "updated_at": now, "result": summary}
    JobStore(service.get_container_client("jobs")).update(job_id, lambda r: r.model_copy(update=change))


def _calls_on(job_id: str) -> list[tuple[str, str, dict[str, str]]]:
    """Every method of every job-scoped route the app registers (and the methods it does not), every format."""
    from tests.support.app_functions import http_routes

    calls = []
    for route, methods in http_routes().values():
        if "{job_id}" not in route:
            continue
        path = "/api/" + route.replace("{job_id}", job_id)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            formats = route.endswith("transcript") and method in methods
            queries = [{"format": f} for f in ("json", "txt", "srt", "vtt")] if formats else [{}]
            calls += [(method, path, query) for query in queries]
    return calls


def test_every_job_route_and_method_is_404_for_another_principal_and_leaks_nothing(
    api: httpx.Client, easy_auth_stack: LocalStack, alice: dict, alice_oid: str, bob: dict
) -> None:
    """Bob's answer about Alice's job is byte for byte the answer about a job that does not exist: 404, the same
    code, nothing of hers (name, metadata, transcript, oid); and nothing he does changes her jobs."""
    marker = f"alice-{uuid.uuid4().hex}"
    body = {"filename": f"{marker}.wav", "size_bytes": 1000, "metadata": {"note": marker}}
    open_job = api.post("/api/uploads", json=body, headers=alice).json()["job_id"]
    done_job = api.post("/api/uploads", json=body, headers=alice).json()["job_id"]
    _completed_for_its_owner(easy_auth_stack, done_job, marker)
    missing = "01a24adb-0000-7000-8000-000000000000"  # a well-formed id that exists nowhere
    routes = 0
    for job_id in (open_job, done_job):
        for (method, path, query), (_, other_path, _) in zip(_calls_on(job_id), _calls_on(missing), strict=True):
            routes += 1
            theirs = api.request(method, path, params=query, headers=bob, follow_redirects=False)
            nobodys = api.request(method, other_path, params=query, headers=bob, follow_redirects=False)
            assert theirs.status_code == nobodys.status_code == 404, (method, path, query, theirs.text[:200])
            assert theirs.content.replace(job_id.encode(), b"ID") == nobodys.content.replace(missing.encode(), b"ID")
            for secret in (marker, alice_oid):
                assert secret not in theirs.text and secret not in str(theirs.headers), (method, path)
    assert routes >= 2 * 8  # the job routes were found (uploads/{id}, jobs/{id} x GET/DELETE, transcript x 4)
    for status in (None, "awaiting_upload", "completed", "canceled"):
        listed = api.get("/api/jobs", params={"status": status} if status else {}, headers=bob)
        assert listed.status_code == 200 and marker not in listed.text and open_job not in listed.text, status
    # Alice still sees both, unchanged by Bob's DELETEs: the 404s above were about who asks, not what exists.
    assert api.get(f"/api/jobs/{open_job}", headers=alice).json()["status"] == "awaiting_upload"
    assert api.get(f"/api/jobs/{done_job}", headers=alice).json()["status"] == "completed"
    txt = api.get(f"/api/jobs/{done_job}/transcript", params={"format": "txt"}, headers=alice)
    assert (txt.status_code, txt.text) == (200, f"{marker} said txt")
    mine = api.get("/api/jobs", headers=alice).json()["jobs"]
    assert {open_job, done_job} <= {j["job_id"] for j in mine}
