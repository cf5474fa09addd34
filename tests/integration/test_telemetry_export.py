"""The real exporters, pointed at local endpoints: what Application Insights (or an OTLP collector) would receive.

A process sets telemetry up from its environment exactly as on Azure (``APPLICATIONINSIGHTS_CONNECTION_STRING``,
with ``IngestionEndpoint`` on loopback), writes a segment's spans and metrics through the service's own helpers,
and flushes at exit. The envelopes must land where the workbook's queries look (``requests`` for SERVER and
CONSUMER spans, ``dependencies`` for the rest, ``customMetrics``; attributes in ``customDimensions``), with the
worker's service name as ``cloud_RoleName``, and nothing else (no auto-instrumented HTTP calls). The same script
with ``OTEL_EXPORTER_OTLP_ENDPOINT`` sends the same spans, and metrics, over OTLP/HTTP.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shared.telemetry.names import SERVICE_WORKER, Attr, Metric, Span

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import datetime, urllib.request
from shared.telemetry import job_metrics
from shared.telemetry import setup as telemetry
from shared.telemetry import tracing
from shared.telemetry.names import Attr, Span, SERVICE_WORKER
print(telemetry.setup(SERVICE_WORKER).mode.value)
parent = tracing.new_traceparent()
with tracing.span(Span.SEGMENT, parent, {Attr.JOB_ID: "job-1", Attr.SEGMENT_INDEX: 3}, tracing.CONSUMER):
    with tracing.child(Span.SEGMENT_INFERENCE):
        urllib.request.urlopen("http://127.0.0.1:{port}/not-telemetry").read()  # must not become a span
now = datetime.datetime.now(datetime.UTC)
tracing.emit_span(Span.JOB, tracing.new_traceparent(parent), None, now, now, {Attr.JOB_ID: "job-1"}, "corrupt_audio")
job_metrics.segment_transcribed("tiny.en", "cuda", "float16", 30.0, 1.5)
telemetry.shutdown()
"""


def _body(handler: BaseHTTPRequestHandler) -> bytes:
    """What an exporter posted, un-gzipped (both exporters compress their requests)."""
    body = handler.rfile.read(int(handler.headers.get("content-length") or 0))
    return gzip.decompress(body) if handler.headers.get("content-encoding") == "gzip" else body


class Ingestion(ThreadingHTTPServer):
    """Accepts what the exporter posts (``/v2.1/track``: gzip'd JSON lines or a JSON array) and keeps it."""

    def __init__(self) -> None:
        self.envelopes: list[dict[str, Any]] = []
        self.other_paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = _body(self)
                text = body.decode()
                items = (
                    json.loads(text)
                    if text.lstrip().startswith("[")
                    else [json.loads(x) for x in text.split("\n") if x]
                )
                outer.envelopes.extend(items)
                answer = json.dumps({"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_GET(self) -> None:
                outer.other_paths.append(self.path)
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def received() -> list[dict[str, Any]]:
    server = Ingestion()
    port = server.server_address[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSCRIBE_", "OTEL_", "APPLICATIONINSIGHTS_"))}
    env.update(
        {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": (
                "InstrumentationKey=00000000-0000-0000-0000-000000000001;"
                f"IngestionEndpoint=http://127.0.0.1:{port}/;LiveEndpoint=http://127.0.0.1:{port}/"
            ),
            "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",  # the SDK's own usage telemetry goes elsewhere
            "PYTHONPATH": str(ROOT),
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.replace("{port}", str(port))],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    server.shutdown()
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[0] == "azure-monitor"
    assert server.other_paths == ["/not-telemetry"]
    return server.envelopes


def _of(envelopes: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in envelopes if e["data"]["baseType"] == kind]


def test_spans_land_in_requests_and_dependencies_with_their_attributes(received: list[dict[str, Any]]) -> None:
    requests, dependencies = _of(received, "RequestData"), _of(received, "RemoteDependencyData")
    assert [r["data"]["baseData"]["name"] for r in requests] == [Span.SEGMENT]
    assert sorted(d["data"]["baseData"]["name"] for d in dependencies) == sorted([Span.JOB, Span.SEGMENT_INFERENCE])
    segment = requests[0]
    assert segment["data"]["baseData"]["properties"][Attr.JOB_ID] == "job-1"
    assert segment["data"]["baseData"]["properties"][Attr.SEGMENT_INDEX] == "3"
    assert segment["tags"]["ai.cloud.role"] == SERVICE_WORKER  # cloud_RoleName, no namespace prefix
    (job,) = [d for d in dependencies if d["data"]["baseData"]["name"] == Span.JOB]
    assert job["data"]["baseData"]["success"] is False
    assert job["data"]["baseData"]["properties"][Attr.ERROR_CODE] == "corrupt_audio"
    inference = next(d for d in dependencies if d["data"]["baseData"]["name"] == Span.SEGMENT_INFERENCE)
    assert inference["tags"]["ai.operation.parentId"] == segment["data"]["baseData"]["id"]
    assert inference["tags"]["ai.operation.id"] == segment["tags"]["ai.operation.id"]


def test_metrics_land_in_custom_metrics_with_their_labels(received: list[dict[str, Any]]) -> None:
    metrics = {m["data"]["baseData"]["metrics"][0]["name"]: m["data"]["baseData"] for m in _of(received, "MetricData")}
    audio = metrics[Metric.AUDIO_SECONDS]
    assert audio["metrics"][0]["value"] == 30.0
    assert audio["properties"] == {Attr.MODEL: "tiny.en", Attr.DEVICE: "cuda"}
    rtfx = metrics[Metric.SEGMENT_RTFX]
    assert rtfx["metrics"][0]["value"] == 20.0 and rtfx["metrics"][0]["count"] == 1


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP receiver: keeps the decoded trace requests and the paths posted to."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.paths: list[str] = []
        self.span_names: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = _body(self)
                outer.paths.append(self.path)
                if self.path == "/v1/traces":
                    request = ExportTraceServiceRequest.FromString(body)
                    outer.span_names += [
                        s.name for r in request.resource_spans for scope in r.scope_spans for s in scope.spans
                    ]
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # the script's own call, which must not become a span
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_otlp_endpoint_receives_the_same_spans_and_metrics() -> None:
    collector = Collector()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSCRIBE_", "OTEL_", "APPLICATIONINSIGHTS_"))}
    env.update(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}", "PYTHONPATH": str(ROOT)}
    )
    script = SCRIPT.replace("{port}", str(collector.server_address[1]))
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    collector.shutdown()
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[0] == "otlp"
    assert sorted(collector.span_names) == sorted([Span.SEGMENT, Span.SEGMENT_INFERENCE, Span.JOB])
    assert {"/v1/traces", "/v1/metrics"} <= set(collector.paths)
