"""A job belongs to its creator: another Entra ID principal gets 404 for it everywhere; listings are per caller."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest

BODY = {"filename": "mine.wav", "size_bytes": 1000}


def principal(oid: str) -> dict[str, str]:
    """The headers App Service authentication sets after validating an Entra ID token."""
    claims = {
        "auth_typ": "aad",
        "claims": [{"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": oid}],
    }
    return {
        "X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(claims).encode()).decode(),
        "X-MS-CLIENT-PRINCIPAL-ID": oid,
    }


@pytest.fixture
def alice() -> dict[str, str]:
    return principal(str(uuid.uuid4()))


@pytest.fixture
def bob() -> dict[str, str]:
    return principal(str(uuid.uuid4()))


def test_another_principal_cannot_see_cancel_or_download(api: httpx.Client, alice: dict, bob: dict) -> None:
    job_id = api.post("/api/uploads", json=BODY, headers=alice).json()["job_id"]
    for method, path in [
        ("GET", f"/api/uploads/{job_id}"),
        ("GET", f"/api/jobs/{job_id}"),
        ("DELETE", f"/api/jobs/{job_id}"),
        ("GET", f"/api/jobs/{job_id}/transcript"),
    ]:
        response = api.request(method, path, headers=bob)
        assert response.status_code == 404, (method, path)
        assert response.json()["code"] == "job_not_found"
        assert api.request(method, path, headers=alice).status_code != 404
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
    bad = api.get("/api/jobs", params={"limit": 0}, headers=alice)
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")
    assert api.get("/api/jobs", params={"status": "sleeping"}, headers=alice).status_code == 422


@pytest.mark.parametrize("token", ["junk", "dj", "A§𠎜®L", "djE6\u0000"])
def test_forged_continuation_tokens_are_refused_quickly(api: httpx.Client, alice: dict, token: str) -> None:
    response = api.get("/api/jobs", params={"continuation": token}, headers=alice, timeout=5)
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
