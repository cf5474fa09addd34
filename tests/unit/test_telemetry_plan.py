"""Where each process sends its telemetry, decided from its environment (shared/telemetry/setup.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.telemetry.setup import Mode, credential_for, host_telemetry_mode, plan, sampling_ratio

AZURE_FUNCTIONS = {"FUNCTIONS_WORKER_RUNTIME": "python", "WEBSITE_SITE_NAME": "func-transcription"}
CONNECTION = {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000000"}


def test_nothing_configured_means_off() -> None:
    assert plan("svc", {}).mode is Mode.OFF


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({"TRANSCRIBE_TELEMETRY_DIR": "/tmp/t", **CONNECTION}, Mode.FILES),  # the local stack wins
        (CONNECTION, Mode.AZURE_MONITOR),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, Mode.OTLP),
        ({**CONNECTION, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, Mode.AZURE_MONITOR),
        ({**AZURE_FUNCTIONS, **CONNECTION}, Mode.AZURE_MONITOR),
        # The Python worker set up the distro itself: configuring it again would export everything twice.
        ({**AZURE_FUNCTIONS, **CONNECTION, "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true"}, Mode.PLATFORM),
        # Outside Functions the variable means nothing: the worker container configures its own.
        ({**CONNECTION, "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true"}, Mode.AZURE_MONITOR),
    ],
)
def test_the_mode_follows_the_environment(env: dict[str, str], mode: Mode) -> None:
    assert plan("svc", env).mode is mode


def test_on_functions_the_host_ships_the_logs_so_we_do_not() -> None:
    assert plan("svc", {**AZURE_FUNCTIONS, **CONNECTION}).export_logs is False
    assert plan("svc", CONNECTION).export_logs is True  # the worker container, the devhost
    # The devhost sets FUNCTIONS_WORKER_RUNTIME from local.settings.json but is not App Service.
    assert plan("svc", {"FUNCTIONS_WORKER_RUNTIME": "python", **CONNECTION}).on_functions is False


def test_host_json_telemetry_mode_is_read_from_the_app_folder(tmp_path: Path) -> None:
    assert host_telemetry_mode({"AzureWebJobsScriptRoot": str(tmp_path)}) == "ApplicationInsights"
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", "telemetryMode": "OpenTelemetry"}))
    env = {**AZURE_FUNCTIONS, **CONNECTION, "AzureWebJobsScriptRoot": str(tmp_path)}
    assert plan("svc", env).telemetry_mode == "OpenTelemetry"
    assert plan("svc", env).export_logs is False


def test_the_repository_host_json_keeps_the_default_mode() -> None:
    """docs/observability.md explains the choice; a change to host.json should come with a change there."""
    root = Path(__file__).resolve().parents[2]
    assert host_telemetry_mode({"AzureWebJobsScriptRoot": str(root)}) == "ApplicationInsights"


def test_entra_id_credential_follows_the_authentication_string() -> None:
    assert credential_for(None) is None
    assert credential_for("Authorization=Key") is None
    named = credential_for("ClientId=11111111-2222-3333-4444-555555555555;Authorization=AAD")
    assert type(named).__name__ == "ManagedIdentityCredential"
    assert type(credential_for("Authorization=AAD")).__name__ == "ManagedIdentityCredential"


@pytest.mark.parametrize(("value", "ratio"), [(None, 1.0), ("0.25", 0.25), ("7", 1.0), ("-1", 0.0), ("x", 1.0)])
def test_sampling_ratio_is_bounded(value: str | None, ratio: float) -> None:
    env = {} if value is None else {"TRANSCRIBE_TRACE_SAMPLING_RATIO": value}
    assert sampling_ratio(env) == ratio
