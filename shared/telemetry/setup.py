"""One telemetry set-up for the Function App, the worker and the one-machine host.

Where telemetry goes is decided by the environment, once per process, on first use (nothing here is imported by
``function_app.py`` at start-up, and the OpenTelemetry SDK is imported only when something is exported):

- ``TRANSCRIBE_TELEMETRY_DIR``: JSON lines under that folder (``shared/telemetry/files.py``), one file per
  process. The one-machine stack, its tests and ``scripts/transcribe --timings`` use it.
- ``APPLICATIONINSIGHTS_CONNECTION_STRING``: Azure Monitor through ``azure-monitor-opentelemetry``. Local
  authentication is off on the deployed resource, so the exporter authenticates with the managed identity named
  in ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` (``Authorization=AAD;ClientId=...``, the Functions host's own
  convention: learn:/azure/azure-monitor/app/azure-ad-authentication). On Functions, when the Python worker was
  told to set up the distro itself (``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true``) we only use the providers
  it installed: configuring twice exports everything twice (../shared/docs/azure-contracts.md §6.1).
- ``OTEL_EXPORTER_OTLP_ENDPOINT``: OTLP over HTTP (the exporters read the standard ``OTEL_*`` variables).
- otherwise off: the OpenTelemetry API's no-op tracer and meter, no SDK import, no cost beyond a call.

Logs on Functions: whatever ``host.json`` ``telemetryMode`` says, the host already receives every log record the
Python worker writes and ships it (as ``traces`` in the default mode, through its own OpenTelemetry pipeline in
``OpenTelemetry`` mode), so exporting them from Python too would write each line twice. On Functions we export
spans and metrics only; the worker and the devhost export logs as well.

Auto-instrumentation is off on purpose: the worker polls its queue twice a second and the host polls several
queues, and the distro's ``requests``/``azure_sdk`` instrumentations would make each poll a trace of its own (a
bill, and noise). The spans that matter are created explicitly (``shared/telemetry/tracing.py``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace

from shared.telemetry.names import SCOPE, SERVICE_FUNCTIONS

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_state: dict[str, Any] = {}

# The distro's bundled instrumentations, all disabled (see the module docstring).
_INSTRUMENTATIONS = ("azure_sdk", "django", "fastapi", "flask", "psycopg2", "requests", "urllib", "urllib3")


class Mode(StrEnum):
    OFF = "off"
    FILES = "files"
    AZURE_MONITOR = "azure-monitor"
    PLATFORM = "platform"  # the Functions Python worker configured the distro; use its providers
    OTLP = "otlp"


@dataclass(frozen=True)
class Plan:
    """What one process exports, decided from its environment (a pure function: see :func:`plan`)."""

    mode: Mode
    service: str
    export_logs: bool
    on_functions: bool
    telemetry_mode: str  # host.json telemetryMode: "ApplicationInsights" (the default) or "OpenTelemetry"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes"}


def host_telemetry_mode(env: Mapping[str, str]) -> str:
    """``telemetryMode`` from the app's host.json (``AzureWebJobsScriptRoot`` is the app folder on Azure)."""
    root = Path(env.get("AzureWebJobsScriptRoot") or ".")
    try:
        data = json.loads((root / "host.json").read_text())
    except (OSError, ValueError):
        return "ApplicationInsights"
    mode = data.get("telemetryMode") if isinstance(data, dict) else None
    return str(mode or "ApplicationInsights")


def plan(service: str, env: Mapping[str, str]) -> Plan:
    """Decide where telemetry goes. ``WEBSITE_SITE_NAME`` is set by App Service on every Function App (never by
    the devhost), ``FUNCTIONS_WORKER_RUNTIME`` by the app's settings."""
    on_functions = bool(env.get("FUNCTIONS_WORKER_RUNTIME")) and bool(env.get("WEBSITE_SITE_NAME"))
    telemetry_mode = host_telemetry_mode(env) if on_functions else "ApplicationInsights"
    export_logs = not on_functions
    if env.get("TRANSCRIBE_TELEMETRY_DIR"):
        mode = Mode.FILES
    elif env.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        platform = on_functions and _truthy(env.get("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"))
        mode = Mode.PLATFORM if platform else Mode.AZURE_MONITOR
    elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        mode = Mode.OTLP
    else:
        mode = Mode.OFF
    return Plan(mode, service, export_logs, on_functions, telemetry_mode)


def setup(service: str, env: Mapping[str, str] | None = None) -> Plan:
    """Set up this process's telemetry once; later calls (any service name) return the first plan."""
    with _lock:
        if "plan" in _state:
            return _state["plan"]
        from shared.telemetry.logs import install_redaction

        install_redaction()  # whoever exports the logs (the Functions host, an exporter) gets them redacted
        chosen = plan(service, os.environ if env is None else env)
        try:
            _install(chosen, os.environ if env is None else env)
        except Exception:  # telemetry must never stop the service: carry on without it
            logger.exception("telemetry set-up failed (%s); continuing without it", chosen.mode.value)
            chosen = Plan(Mode.OFF, service, False, chosen.on_functions, chosen.telemetry_mode)
        _state["plan"] = chosen
        return chosen


def current() -> Plan:
    """The plan in force; sets up with the Function App's service name when nobody has yet."""
    found = _state.get("plan")
    return found if isinstance(found, Plan) else setup(SERVICE_FUNCTIONS)


def tracer() -> trace.Tracer:
    """The service's tracer, made once per process (every span asks for it: segments, range reads, activities)."""
    found = _state.get("tracer")
    if found is None:
        current()
        found = _state["tracer"] = trace.get_tracer(SCOPE)
    return found


def meter() -> metrics.Meter:
    current()
    return metrics.get_meter(SCOPE)


def shutdown() -> None:
    """Flush and stop exporters (a worker replica's exit, the devhost's stop); safe to call when off."""
    providers = _state.pop("providers", ())
    for provider in providers:
        try:
            provider.shutdown()
        except Exception:  # shutting down: log it and go on
            logger.warning("telemetry shutdown of %s failed", type(provider).__name__, exc_info=True)


def flush() -> None:
    """Export what is buffered now (before a process may be frozen or killed)."""
    for provider in _state.get("providers", ()):
        force = getattr(provider, "force_flush", None)
        if force is not None:
            force()


def _resource(service: str) -> Any:
    from opentelemetry.sdk.resources import Resource

    # No service.namespace: the exporter would prefix it to cloud_RoleName ("transcription.transcription-worker").
    return Resource.create({"service.name": service})


def _install(chosen: Plan, env: Mapping[str, str]) -> None:
    if chosen.mode is Mode.OFF:
        return
    if chosen.mode is Mode.PLATFORM:
        _use_fixed_ids(trace.get_tracer_provider())
        return
    if chosen.mode is Mode.AZURE_MONITOR:
        _install_azure_monitor(chosen, env)
    elif chosen.mode is Mode.OTLP:
        _install_otlp(chosen)
    else:
        _install_files(chosen, Path(env["TRANSCRIBE_TELEMETRY_DIR"]))
    _use_fixed_ids(trace.get_tracer_provider())


def _install_files(chosen: Plan, folder: Path) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from shared.telemetry.files import JsonLinesMetricExporter, JsonLinesSpanExporter

    folder.mkdir(parents=True, exist_ok=True)
    resource = _resource(chosen.service)
    tracer_provider = TracerProvider(resource=resource)
    # Simple (synchronous) so that a process killed mid-job has written every span it ended.
    tracer_provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(folder, chosen.service)))
    reader = PeriodicExportingMetricReader(JsonLinesMetricExporter(folder, chosen.service), export_interval_millis=2000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    _state["providers"] = (tracer_provider, meter_provider)


def _install_otlp(chosen: Plan) -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = _resource(chosen.service)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())]
    )
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    providers: list[Any] = [tracer_provider, meter_provider]
    if chosen.export_logs:
        providers.append(_otlp_logs(resource))
    _state["providers"] = tuple(providers)


def _otlp_logs(resource: Any) -> Any:
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    set_logger_provider(provider)
    handler = LoggingHandler(logger_provider=provider)
    handler.setFormatter(logging.Formatter("%(message)s"))  # redacted traceback (exc_text) into the body
    logging.getLogger().addHandler(handler)
    return provider


def credential_for(auth_string: str | None) -> Any:
    """The Entra ID credential ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` names, or None (key-based ingestion).

    The format is the Functions host's: ``Authorization=AAD;ClientId=<user-assigned identity client id>``
    (learn:/azure/azure-functions/configure-monitoring#enable-microsoft-entra-authentication).
    """
    parts = dict(p.split("=", 1) for p in (auth_string or "").split(";") if "=" in p)
    if parts.get("Authorization", "").upper() != "AAD":
        return None
    from azure.identity import ManagedIdentityCredential

    client_id = parts.get("ClientId")
    return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()


def sampling_ratio(env: Mapping[str, str]) -> float:
    """Whole jobs are kept or dropped together (the sampler hashes the trace id); default: keep every job."""
    try:
        return min(max(float(env.get("TRANSCRIBE_TRACE_SAMPLING_RATIO", "1")), 0.0), 1.0)
    except ValueError:
        return 1.0


def _install_azure_monitor(chosen: Plan, env: Mapping[str, str]) -> None:
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(
        connection_string=env["APPLICATIONINSIGHTS_CONNECTION_STRING"],
        credential=credential_for(env.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING")),
        resource=_resource(chosen.service),
        sampling_ratio=sampling_ratio(env),
        disable_logging=not chosen.export_logs,
        enable_live_metrics=False,
        # Records arrive redacted with the traceback in exc_text (shared/telemetry/logs.py); a formatter puts it in the
        # body.
        logging_formatter=logging.Formatter("%(message)s"),
        instrumentation_options={name: {"enabled": False} for name in _INSTRUMENTATIONS},
    )
    _state["providers"] = tuple(
        p
        for p in (trace.get_tracer_provider(), metrics.get_meter_provider(), _logger_provider())
        if hasattr(p, "shutdown")
    )


def _logger_provider() -> Any:
    from opentelemetry._logs import get_logger_provider

    return get_logger_provider()


def _use_fixed_ids(provider: Any) -> None:
    """Let :func:`shared.telemetry.tracing.emit_span` choose a span's ids (an SDK provider only; the no-op one has
    none)."""
    if hasattr(provider, "id_generator"):
        from shared.telemetry.fixed_ids import FixedIdGenerator

        if not isinstance(provider.id_generator, FixedIdGenerator):
            provider.id_generator = FixedIdGenerator(provider.id_generator)
