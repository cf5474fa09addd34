"""Where links point: the configured public address or the platform's host name, never a client's Host header."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import azure.functions as func
import pytest

from functions.api.http import base_url
from shared.config import Settings, get_settings, is_loopback
from shared.errors import ServiceError

Configure = Callable[..., Settings]


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Configure]:
    monkeypatch.setenv("Storage", "UseDevelopmentStorage=true")
    monkeypatch.delenv("WEBSITE_HOSTNAME", raising=False)
    get_settings.cache_clear()

    def configure(**values: str) -> Settings:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return get_settings()

    yield configure
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost:7071", True),
        ("127.0.0.1", True),
        ("127.8.9.10:80", True),
        ("[::1]:7071", True),
        ("myapp.azurewebsites.net", False),
        ("10.0.0.4:7071", False),
        ("localhost.evil.example", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_public_base_url_wins_then_the_platform_host_name(settings: Configure) -> None:
    assert settings().public_origin is None
    assert settings(WEBSITE_HOSTNAME="myapp.azurewebsites.net").public_origin == "https://myapp.azurewebsites.net"
    assert settings(WEBSITE_HOSTNAME="localhost:7071").public_origin == "http://localhost:7071"
    configured = settings(TRANSCRIBE_PUBLIC_BASE_URL="https://api.contoso.example/")
    assert configured.public_origin == "https://api.contoso.example"


def request(url: str, host: str) -> func.HttpRequest:
    return func.HttpRequest(method="GET", url=url, headers={"Host": host}, body=b"")


def test_links_never_come_from_the_host_header(settings: Configure) -> None:
    settings(WEBSITE_HOSTNAME="myapp.azurewebsites.net")
    assert base_url(request("https://evil.example/api/jobs", "evil.example")) == "https://myapp.azurewebsites.net"


def test_without_settings_only_a_request_to_this_machine_may_name_itself(settings: Configure) -> None:
    settings()
    assert base_url(request("http://127.0.0.1:7071/api/jobs", "127.0.0.1:7071")) == "http://127.0.0.1:7071"
    with pytest.raises(ServiceError):
        base_url(request("https://evil.example/api/jobs", "evil.example"))
