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
from shared.blocks import block_name
from shared.sas import BlobSigner, upload_permission


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
