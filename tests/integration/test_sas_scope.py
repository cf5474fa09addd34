"""The upload SAS may create and write its one blob, and nothing else, and only until it expires."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.storage.blob import BlobBlock, BlobClient, BlobServiceClient, ContainerClient

from shared.azure.sas import BlobSigner, upload_permission
from shared.azure.storage import DEV_ACCOUNT_KEY
from shared.blocks import block_name


@pytest.fixture
def session(api: httpx.Client) -> dict:
    return api.post("/api/uploads", json={"filename": "scope.wav", "size_bytes": 1024}).json()


def _refused(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(HttpResponseError) as caught:
        call()
    assert caught.value.status_code == 403


def test_sas_can_put_blocks_and_commit_its_blob(session: dict, blob_service: BlobServiceClient) -> None:
    blob = BlobClient.from_blob_url(session["upload"]["url"])
    blob.stage_block(block_name(0), b"x" * 1024)
    blob.commit_block_list([BlobBlock(block_name(0))])
    stored = blob_service.get_blob_client("uploads", f"{session['job_id']}/scope.wav")
    assert stored.download_blob().readall() == b"x" * 1024


def test_sas_cannot_read_list_or_inspect(session: dict) -> None:
    url = session["upload"]["url"]
    blob = BlobClient.from_blob_url(url)
    blob.stage_block(block_name(0), b"x" * 1024)
    blob.commit_block_list([BlobBlock(block_name(0))])
    _refused(lambda: blob.download_blob().readall())
    _refused(lambda: blob.get_block_list("all"))
    _refused(lambda: blob.get_blob_properties())
    _refused(lambda: blob.delete_blob())
    base, _, query = url.partition("?")
    container_url = base.rsplit("/", 2)[0]
    container = ContainerClient.from_container_url(f"{container_url}?{query}")
    _refused(lambda: list(container.list_blobs()))


def test_sas_cannot_write_another_blob(session: dict) -> None:
    base, _, query = session["upload"]["url"].partition("?")
    other = BlobClient.from_blob_url(f"{base.rsplit('/', 1)[0]}/other.wav?{query}")
    _refused(lambda: other.upload_blob(b"x"))
    _refused(lambda: other.stage_block(block_name(0), b"x"))
    sibling_job = BlobClient.from_blob_url(f"{base.rsplit('/', 2)[0]}/someone-else/scope.wav?{query}")
    _refused(lambda: sibling_job.stage_block(block_name(0), b"x"))


def test_sas_stops_working_when_it_expires(session: dict, blob_service: BlobServiceClient) -> None:
    signer = BlobSigner(blob_service, DEV_ACCOUNT_KEY)
    blob_name = f"{session['job_id']}/scope.wav"
    url = signer.blob_url("uploads", blob_name, upload_permission(), datetime.now(UTC) + timedelta(seconds=2))
    blob = BlobClient.from_blob_url(url)
    blob.stage_block(block_name(0), b"x")
    time.sleep(3)
    with pytest.raises((ClientAuthenticationError, HttpResponseError)) as caught:
        blob.stage_block(block_name(1), b"x")
    assert caught.value.status_code == 403
