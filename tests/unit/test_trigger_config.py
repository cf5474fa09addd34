"""Trigger settings, blob paths, message bodies and argument kinds, without storage."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import azure.functions as func
import azure.storage.blob
import azurefunctions.extensions.bindings.blob as blob
import pytest

from devhost.app_loader import FunctionInfo, index_app
from devhost.invoker import Invoker
from devhost.triggers import TriggerConfigError, build_trigger_listeners
from devhost.triggers.blob_params import CLIENT, CONTAINER, EVENT, EVENT_DICT, trigger_arg_kind
from devhost.triggers.blob_paths import parse_blob_path
from devhost.triggers.blob_receipts import receipt_name
from devhost.triggers.config import QueueOptions, connection_string, host_id, parse_timespan, queue_options
from devhost.triggers.queue_codec import UndecodableMessage, decode_body, encode_body
from devhost.triggers.signature import check_bindings_served, resolve_settings


def write_host_json(tmp_path: Path, queues: dict[str, Any]) -> Path:
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"queues": queues}}))
    return tmp_path


@pytest.mark.parametrize(
    ("value", "unit", "seconds"),
    [
        ("00:00:30", 1.0, 30.0),
        ("00:00:00.5", 1.0, 0.5),
        ("1.02:00:00", 1.0, 93600.0),
        (2000, 0.001, 2.0),
        (5, 1.0, 5.0),
    ],
)
def test_timespans(value: Any, unit: float, seconds: float) -> None:
    assert parse_timespan(value, unit) == pytest.approx(seconds)


def test_timespan_garbage_is_refused() -> None:
    with pytest.raises(TriggerConfigError):
        parse_timespan("thirty seconds", 1.0)


def test_queue_defaults_are_azures_polling_interval_included(tmp_path: Path) -> None:
    """An idle queue is polled up to a minute apart on Azure; a host that polled faster would hide the latency an
    app gets there unless its host.json says otherwise."""
    assert queue_options(tmp_path) == QueueOptions(
        batch_size=16,
        new_batch_threshold=8,
        max_polling_interval_s=60.0,
        visibility_timeout_s=0.0,
        max_dequeue_count=5,
        message_encoding="base64",
    )


def test_queue_options_from_host_json(tmp_path: Path) -> None:
    app_dir = write_host_json(
        tmp_path,
        {
            "batchSize": 4,
            "maxPollingInterval": 2000,
            "visibilityTimeout": "00:00:10",
            "maxDequeueCount": 3,
            "messageEncoding": "none",
        },
    )
    assert queue_options(app_dir) == QueueOptions(4, 2, 2.0, 10.0, 3, "none")


@pytest.mark.parametrize("queues", [{"messageEncoding": "utf-16"}, {"batchSize": 33}])
def test_bad_queue_options_are_refused(tmp_path: Path, queues: dict[str, Any]) -> None:
    with pytest.raises(TriggerConfigError):
        queue_options(write_host_json(tmp_path, queues))


def test_message_bodies() -> None:
    assert decode_body(base64.b64encode(b"\x00bin").decode(), "base64") == b"\x00bin"
    assert decode_body("plain", "none") == b"plain"
    assert encode_body(b"plain", "base64") == base64.b64encode(b"plain").decode()
    with pytest.raises(UndecodableMessage):
        decode_body("not base64!", "base64")


def test_connection_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", "host-conn")
    monkeypatch.setenv("AzureWebJobsOther", "other-conn")
    monkeypatch.setenv("Storage", "UseDevelopmentStorage=true")
    assert connection_string(None) == "host-conn"
    assert connection_string("Other") == "other-conn"  # like the host, X also finds AzureWebJobsX
    assert "devstoreaccount1" in connection_string("Storage")
    with pytest.raises(TriggerConfigError, match="Missing"):
        connection_string("Missing")


UAMI = "11111111-2222-3333-4444-555555555555"


def test_identity_based_connections_are_accepted_as_azure_accepts_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """What infra/bicep sets on the Function App: endpoints, credential=managedidentity and the user-assigned
    identity's client id, no connection string. The triggers must serve it, with that identity."""
    from azure.identity import ManagedIdentityCredential

    from devhost.triggers.blob_params import trigger_value
    from devhost.triggers.clients import blob_service, queue_client
    from devhost.triggers.config import connection

    for name in ("Storage", "AzureWebJobsStorage"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("Storage__blobServiceUri", "https://stx.blob.core.windows.net")
    monkeypatch.setenv("Storage__queueServiceUri", "https://stx.queue.core.windows.net")
    monkeypatch.setenv("Storage__credential", "managedidentity")
    monkeypatch.setenv("Storage__clientId", UAMI)
    conn = connection("Storage")
    assert (conn.connection_string, conn.client_id) == (None, UAMI)
    queue = queue_client(conn, "segment-results")
    assert queue.url == "https://stx.queue.core.windows.net/segment-results"
    assert isinstance(queue.credential, ManagedIdentityCredential)
    assert blob_service(conn).url == "https://stx.blob.core.windows.net/"
    props = azure.storage.blob.BlobProperties()
    props.name = "job/a.wav"
    client = trigger_value(CLIENT, conn, "uploads", props)
    assert client.url == "https://stx.blob.core.windows.net/uploads/job/a.wav"
    assert isinstance(client.credential, ManagedIdentityCredential)


def test_a_client_id_without_credential_managedidentity_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host uses a user-assigned identity only when both __credential and __clientId are set (learn:
    functions-reference, identity-based connections); otherwise its default credential."""
    from devhost.triggers.config import connection

    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    monkeypatch.setenv("AzureWebJobsStorage__accountName", "sty")
    monkeypatch.setenv("AzureWebJobsStorage__clientId", UAMI)
    conn = connection(None)
    assert (
        conn.blob_uri == "https://sty.blob.core.windows.net" and conn.queue_uri == "https://sty.queue.core.windows.net"
    )
    assert conn.client_id is None


def test_host_id_is_stable_short_and_overridable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AzureFunctionsJobHost__id", raising=False)
    derived = host_id(tmp_path)
    assert derived == host_id(tmp_path) != host_id(tmp_path / "other")
    assert len(derived) <= 32 and re.fullmatch(r"[a-z0-9-]+", derived) and not derived.endswith("-")
    monkeypatch.setenv("AzureFunctionsJobHost__id", "My-Host")
    assert host_id(tmp_path) == "my-host"


def test_receipts_live_where_the_host_keeps_them() -> None:
    assert (
        receipt_name("h", "f", ("uploads", "j/a.wav", "0x8D1"))
        == "blobreceipts/h/Host.Functions.f/0x8D1/uploads/j/a.wav"
    )


@pytest.mark.parametrize(
    ("path", "blob_name", "values"),
    [
        ("uploads/{name}", "j1/a.wav", {"name": "j1/a.wav"}),
        ("uploads/{job_id}/{name}", "j1/a.wav", {"job_id": "j1", "name": "a.wav"}),
        ("uploads/{job_id}/{name}", "a.wav", None),
        ("input/original-{name}", "original-Blob1.txt", {"name": "Blob1.txt"}),
        ("input/original-{name}", "copy-Blob1.txt", None),
        (
            "input/{blobname}.{blobextension}",
            "original-Blob1.txt",
            {"blobname": "original-Blob1", "blobextension": "txt"},
        ),
        ("samples/{name}.png", "x.jpg", None),
        ("images/{{20140101}}-{name}", "{20140101}-soundfile.mp3", {"name": "soundfile.mp3"}),
        ("uploads", "any/thing", {}),
    ],
)
def test_blob_paths_bind_like_the_host(path: str, blob_name: str, values: dict[str, str] | None) -> None:
    assert parse_blob_path(path).match(blob_name) == values


def test_blob_path_listing_prefix_and_container() -> None:
    parsed = parse_blob_path("input/original-{name}")
    assert (parsed.container, parsed.prefix) == ("input", "original-")
    with pytest.raises(TriggerConfigError):
        parse_blob_path("{c}/{name}")


def test_setting_expressions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESULTS_QUEUE", "segment-results")
    assert resolve_settings("%RESULTS_QUEUE%") == "segment-results"
    with pytest.raises(TriggerConfigError):
        resolve_settings("%NOT_SET_ANYWHERE%")


def _blob_function(handler: Any, *extra: dict[str, Any]) -> FunctionInfo:
    trigger = {"type": "blobTrigger", "name": "arg", "path": "uploads/{name}", "connection": "Storage"}
    return FunctionInfo("f", (trigger, *extra), handler)


def _by_client(arg: blob.BlobClient) -> None: ...
def _by_sdk_client(arg: azure.storage.blob.BlobClient) -> None: ...
def _by_container(arg: blob.ContainerClient) -> None: ...
def _by_event(arg: func.EventGridEvent) -> None: ...
def _by_dict(arg: dict[str, Any]) -> None: ...
def _by_stream(arg: func.InputStream) -> None: ...
def _by_bytes(arg: bytes) -> None: ...
def _by_nothing(arg) -> None: ...  # type: ignore[no-untyped-def]


@pytest.mark.parametrize(
    ("handler", "kind"),
    [
        (_by_client, CLIENT),
        (_by_sdk_client, CLIENT),
        (_by_container, CONTAINER),
        (_by_event, EVENT),
        (_by_dict, EVENT_DICT),
    ],
)
def test_blob_argument_kinds(handler: Any, kind: str) -> None:
    assert trigger_arg_kind(_blob_function(handler)) == kind


@pytest.mark.parametrize("handler", [_by_stream, _by_bytes, _by_nothing])
def test_arguments_that_load_the_whole_blob_are_refused(handler: Any) -> None:
    with pytest.raises(TriggerConfigError, match="whole blob"):
        trigger_arg_kind(_blob_function(handler))


def test_output_bindings_are_refused() -> None:
    out = {"type": "queue", "direction": "OUT", "name": "out", "queueName": "q", "connection": "Storage"}
    with pytest.raises(TriggerConfigError, match="not served"):
        check_bindings_served(_blob_function(_by_client, out))
    check_bindings_served(_blob_function(_by_client, {"type": "durableClient", "direction": "IN", "name": "c"}))


def test_an_input_stream_blob_trigger_is_refused_at_start_up(tmp_path: Path) -> None:
    app = func.FunctionApp()

    @app.blob_trigger(arg_name="data", path="uploads/{name}", connection="Storage", source=func.BlobSource.EVENT_GRID)
    def reads_everything(data: func.InputStream) -> None: ...

    invoker = Invoker()
    try:
        with pytest.raises(TriggerConfigError, match="InputStream"):
            build_trigger_listeners(index_app(app), invoker, tmp_path)
    finally:
        invoker.close()


def test_the_apps_host_json_sets_the_polling_the_pipeline_needs() -> None:
    """Segment results must reach the orchestration in well under a second, not a minute: host.json says so for the
    queue trigger and for the Durable queues (each idle hop of a job waits up to this; docs/deploy.md, "Queue
    polling"), and the one-machine host reads both."""
    from devhost.durable.polling import max_queue_polling_interval_s
    from devhost.triggers.config import read_host_json
    from tests.conftest import ROOT

    assert queue_options(ROOT).max_polling_interval_s == 0.5
    assert max_queue_polling_interval_s(read_host_json(ROOT)) == 0.5
    assert max_queue_polling_interval_s({}) == 30.0  # the extension's default (AzureStorageOptions.cs)
