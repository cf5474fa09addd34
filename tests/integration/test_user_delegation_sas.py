"""The Azure path of SAS signing: a user delegation key obtained with an Entra ID token, against a real Azurite.

Azurite issues delegation keys only over HTTPS with OAuth on, so this test starts its own Azurite with a
self-signed certificate. Entra ID itself cannot run here: the credential hands out a well-formed token that
Azurite accepts (it checks issuer, audience and lifetime, not the signature).
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobBlock, BlobClient, BlobServiceClient

from devhost.azurite import Azurite
from shared.azure.sas import BlobSigner, upload_permission
from shared.blocks import block_name


class FakeEntraCredential:
    """Stands in for DefaultAzureCredential: an unsigned JWT with Entra's claims."""

    def __init__(self) -> None:
        self.requests = 0

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.requests += 1
        now = int(time.time())
        claims = {
            "aud": "https://storage.azure.com",
            "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000001/",
            "iat": now - 60,
            "nbf": now - 60,
            "exp": now + 3600,
            "oid": "11111111-2222-3333-4444-555555555555",
            "tid": "00000000-0000-0000-0000-000000000001",
        }
        header = {"alg": "none", "typ": "JWT"}
        encode = lambda part: base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()  # noqa: E731
        return AccessToken(f"{encode(header)}.{encode(claims)}.", now + 3600)


@pytest.fixture(scope="module")
def tls_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Azurite, Path]]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    with Azurite(folder / "azurite", tls=(cert, key)) as azurite:
        BlobServiceClient.from_connection_string(
            azurite.connection_string, connection_verify=str(cert)
        ).create_container("uploads")
        yield azurite, cert


def test_user_delegation_sas_uploads_one_blob_and_nothing_more(tls_azurite: tuple[Azurite, Path]) -> None:
    azurite, cert = tls_azurite
    credential = FakeEntraCredential()
    service = BlobServiceClient(azurite.blob_endpoint, credential=credential, connection_verify=str(cert))
    signer = BlobSigner(service, account_key=None)
    assert not signer.uses_account_key

    expiry = datetime.now(UTC) + timedelta(minutes=30)
    url = signer.blob_url("uploads", "job-1/talk.wav", upload_permission(), expiry)
    assert "skoid=" in url and "sp=cw" in url and "spr=https" in url  # a delegation SAS, HTTPS-only
    blob = BlobClient.from_blob_url(url, connection_verify=str(cert))
    blob.stage_block(block_name(0), b"hello")
    blob.commit_block_list([BlobBlock(block_name(0))])
    with pytest.raises(HttpResponseError) as caught:
        blob.download_blob().readall()
    assert caught.value.status_code == 403

    owner = BlobServiceClient.from_connection_string(azurite.connection_string, connection_verify=str(cert))
    assert owner.get_blob_client("uploads", "job-1/talk.wav").download_blob().readall() == b"hello"

    # The delegation key is cached: a second URL costs no second key request.
    token_requests = credential.requests
    signer.blob_url("uploads", "job-2/talk.wav", upload_permission(), expiry)
    assert credential.requests == token_requests


def test_forged_delegation_sas_is_refused(tls_azurite: tuple[Azurite, Path]) -> None:
    """A SAS signed with a key the service did not issue must not work (Azurite checks the signature)."""
    azurite, cert = tls_azurite
    service = BlobServiceClient(azurite.blob_endpoint, credential=FakeEntraCredential(), connection_verify=str(cert))
    url = BlobSigner(service, account_key=None).blob_url(
        "uploads", "job-3/x.wav", upload_permission(), datetime.now(UTC) + timedelta(minutes=5)
    )
    forged = url.replace("sig=", "sig=AAAA", 1)
    with pytest.raises(HttpResponseError) as caught:
        BlobClient.from_blob_url(forged, connection_verify=str(cert)).stage_block(block_name(0), b"x")
    assert caught.value.status_code == 403


def _fresh_app_state() -> None:
    """Settings, clients and the signer are built once per process; a test that changes how the app reaches storage
    starts them again (before and after, so no other test sees this one's)."""
    from shared import config
    from shared.azure import storage
    from shared.uploads import sessions as upload_sessions

    for cached in (config.get_settings, storage.blob_service, storage.blob_signer, upload_sessions.upload_sessions):
        cached.cache_clear()


@pytest.fixture(params=["managed identity", "connection string"])
def app_storage(
    request: pytest.FixtureRequest, tls_azurite: tuple[Azurite, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The app reaching storage as Bicep configures it in Azure (endpoints and a managed identity, no key), or
    through a connection string as on one machine.

    DefaultAzureCredential is the one stand-in (Entra ID cannot run here); the storage behind it is Azurite."""
    from shared.azure import storage

    azurite, cert = tls_azurite
    owner = BlobServiceClient.from_connection_string(azurite.connection_string, connection_verify=str(cert))
    for name in ("jobs", "results"):
        if not owner.get_container_client(name).exists():
            owner.create_container(name)
    if request.param == "managed identity":
        monkeypatch.setenv("Storage__blobServiceUri", azurite.blob_endpoint)
        monkeypatch.setattr(storage, "azure_credential", FakeEntraCredential)
    else:
        monkeypatch.setenv("Storage", azurite.connection_string)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # the app's pooled requests session trusts the test CA
    _fresh_app_state()
    yield request.param
    _fresh_app_state()


def _handler(builder: object) -> object:
    function = builder._function.get_user_function()  # type: ignore[attr-defined]
    return getattr(function, "__wrapped__", function)


def test_every_sas_the_app_issues_is_a_delegation_sas_with_an_identity_and_an_account_key_sas_only_without(
    app_storage: str, tls_azurite: tuple[Azurite, Path]
) -> None:
    """Upload SAS (POST and GET /api/uploads) and transcript read links (GET /api/jobs, the transcript redirect, the
    webhook payload: all through shared.azure.storage.blob_signer). With a managed identity each is signed with a
    delegation key (``skoid`` names the identity) and no account key is in play; with a connection string, with
    its account key. Either way each works for what it grants. (The worker gets no SAS: it reads and writes with
    its own identity, worker/__main__.py.)"""
    import azure.functions as func

    from functions.api import uploads
    from shared.azure import storage
    from shared.config import get_settings
    from shared.jobs.records import JobStatus
    from shared.jobs.store import JobStore
    from shared.jobs.views import FORMATS, job_view

    _, cert = tls_azurite
    identity = app_storage == "managed identity"
    assert (storage.account_key() is None) == identity and storage.blob_signer().uses_account_key != identity
    delegated = (lambda link: "skoid=" in link) if identity else (lambda link: "skoid=" not in link and "sig=" in link)
    body = json.dumps({"filename": "talk.wav", "size_bytes": 5}).encode()
    url = "http://127.0.0.1:7071/api/uploads"
    created = _handler(uploads.create_upload)(func.HttpRequest("POST", url, body=body))  # type: ignore[operator]
    assert created.status_code == 201, created.get_body()
    session = json.loads(created.get_body())
    job_id, sas = session["job_id"], session["upload"]["url"]
    again = _handler(uploads.get_upload)(  # type: ignore[operator]
        func.HttpRequest("GET", f"{url}/{job_id}", body=b"", route_params={"job_id": job_id})
    )
    refreshed = json.loads(again.get_body())["upload"]["url"]
    for link in (sas, refreshed):
        assert delegated(link) and "sp=cw" in link and "spr=https" in link, link
    blob = BlobClient.from_blob_url(sas, connection_verify=str(cert))
    blob.stage_block(block_name(0), b"hello")
    blob.commit_block_list([BlobBlock(block_name(0))])

    settings = get_settings()
    store = JobStore(storage.container(settings.jobs_container))
    summary = {"duration_s": 1.0, "language": "en", "words": 1, "segments": 1, "model": "tiny.en"}
    now = datetime.now(UTC)
    record = store.update(
        job_id,
        lambda r: r.model_copy(
            update={"status": JobStatus.COMPLETED, "committed_at": now, "updated_at": now, "result": summary}
        ),
    )
    results = storage.container(settings.results_container)
    for fmt in FORMATS:
        results.upload_blob(f"{job_id}/transcript.{fmt}", f"words in {fmt}".encode(), overwrite=True)
    view = job_view(record, None, "http://127.0.0.1:7071", storage.blob_signer(), settings.results_container)
    assert view.result is not None
    for fmt, link in view.result.transcripts.items():
        assert delegated(link) and "sp=r" in link, link
        read = BlobClient.from_blob_url(link, connection_verify=str(cert)).download_blob().readall()
        assert read == f"words in {fmt}".encode()
