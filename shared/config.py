"""Typed settings, read once per process and only when a handler first needs them.

Never instantiate :class:`Settings` at import time: an exception while ``function_app.py`` is imported makes the
Functions host index zero functions with almost no log. Handlers call :func:`get_settings`.

Storage follows the Functions connection conventions so the same app settings work for the host's bindings and
for our own clients: ``Storage`` holds a connection string (Azurite, or an account key in a pinch), or
``Storage__blobServiceUri`` / ``Storage__queueServiceUri`` (+ ``Storage__clientId`` for a user-assigned managed
identity) select identity-based access.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.blocks import MAX_BLOB_SIZE, MAX_BLOCK_SIZE, MIB

GIB = 1024 * MIB


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRANSCRIBE_", extra="ignore", populate_by_name=True)

    storage_connection_string: str | None = Field(
        default=None, validation_alias=AliasChoices("Storage", "TRANSCRIBE_STORAGE_CONNECTION_STRING")
    )
    storage_blob_service_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("Storage__blobServiceUri", "Storage__serviceUri")
    )
    storage_queue_service_uri: str | None = Field(default=None, validation_alias="Storage__queueServiceUri")
    storage_client_id: str | None = Field(default=None, validation_alias="Storage__clientId")

    uploads_container: str = "uploads"
    jobs_container: str = "jobs"
    segments_container: str = "segments"
    results_container: str = "results"

    max_upload_bytes: int = Field(default=100 * GIB, gt=0, le=MAX_BLOB_SIZE)
    upload_block_size: int = Field(default=8 * MIB, ge=MIB, le=MAX_BLOCK_SIZE)
    upload_sas_ttl_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    # Azure discards uncommitted blocks a week after the last Put Block; close the session a bit earlier. Seconds
    # are allowed so that a test can watch a session expire (tests/faults/test_bad_inputs.py).
    upload_session_ttl_seconds: int = Field(default=6 * 24 * 3600, ge=10, le=7 * 24 * 3600)
    # Where customers reach the API: links in responses and webhooks are built from this, never from the request's
    # Host header (a client controls that). Unset, the app's own host name, which App Service injects as
    # WEBSITE_HOSTNAME (the one-machine host sets it to where it listens).
    public_base_url: str | None = None
    website_hostname: str | None = Field(default=None, validation_alias="WEBSITE_HOSTNAME")

    # Caller identity: App Service injects WEBSITE_AUTH_ENABLED=True when its authentication is on, and only then
    # are X-MS-CLIENT-PRINCIPAL* headers the platform's rather than the client's (shared/jobs/principals.py). Another
    # front end that validates tokens and sets those headers itself can be trusted explicitly.
    app_service_auth_enabled: bool = Field(default=False, validation_alias="WEBSITE_AUTH_ENABLED")
    trust_principal_headers: bool = False

    # Transcription pipeline.
    segment_jobs_queue: str = "segment-jobs"
    model: str = Field(default="tiny.en", description="model name or path the workers load")
    segment_window_s: float = Field(default=300.0, gt=0)
    segment_overlap_s: float = Field(default=2.0, ge=0)
    segment_min_window_s: float = Field(default=30.0, gt=0)
    expected_workers: int = Field(default=1, ge=1, description="how many workers can run at once (plan hint)")
    segment_timeout_s: float = Field(
        default=1800.0, gt=0, description="re-dispatch a segment taken by a worker that has said nothing this long"
    )
    segment_queue_timeout_s: float = Field(
        default=14400.0, gt=0, description="fail a job whose segment no worker has taken this long after dispatch"
    )
    segment_max_attempts: int = Field(default=3, ge=1)
    # Segments are handled in batches, one sub-orchestration each, so that no orchestration's history grows past a
    # few hundred events (Microsoft's guidance: about 1,000 activities at most per orchestration).
    # 50: the host's CPU per segment was lowest there (bench/scale.py, 2,000 segments: 16.6 ms at 200, 10.6 at 100,
    # 9.4 at 50, 10.3 at 25): a batch replays its history on each report, so smaller batches replay less, and
    # below 50 the job's own orchestration has more batches to run.
    segment_batch_size: int = Field(default=50, ge=1, le=1000)

    # Completion webhooks. On one machine (devhost) both are allowed so a local receiver can be used.
    webhook_allow_http: bool = False
    webhook_allow_private: bool = False
    webhook_backoff_s: float = Field(default=5.0, gt=0, description="first retry delay; doubles each attempt")
    webhook_attempts: int = Field(default=6, ge=1)

    @property
    def public_origin(self) -> str | None:
        """``scheme://host[:port]`` customers use, from the settings alone; ``None`` when nothing says."""
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        if self.website_hostname:
            host = self.website_hostname.strip().rstrip("/")
            return f"{'http' if is_loopback(host) else 'https'}://{host}"
        return None

    @property
    def principal_headers_trusted(self) -> bool:
        return self.app_service_auth_enabled or self.trust_principal_headers

    @model_validator(mode="after")
    def _needs_storage(self) -> Settings:
        if not (self.storage_connection_string or self.storage_blob_service_uri):
            raise ValueError(
                "no storage configured: set 'Storage' to a connection string (Azurite: see "
                "local.settings.sample.json) or 'Storage__blobServiceUri' for a managed identity"
            )
        return self


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.x.x.x`` or ``[::1]``, with or without a port: this machine only, so plain http is fine."""
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
