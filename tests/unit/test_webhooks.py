import base64
import hashlib
import hmac

import pytest

from shared.errors import ErrorCode, PermanentError
from shared.jobs.webhooks import CallbackPolicy, check_callback_url, new_secret, sign

STRICT = CallbackPolicy()


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",  # not https
        "ftp://example.com/hook",
        "https://user:pw@example.com/hook",  # credentials
        "https://127.0.0.1/hook",  # loopback
        "https://localhost/hook",
        "https://10.1.2.3/hook",  # private
        "https://192.168.0.10/hook",
        "https://169.254.169.254/metadata/instance",  # link-local: the instance metadata endpoint
        "https://[::1]/hook",
        "https://[fd00::1]/hook",  # unique local
        "https://224.0.0.1/hook",  # multicast
        "https:///no-host",
        # issue 22: IPv6 forms that carry a blocked IPv4 address, and URLs that parse oddly
        "https://[64:ff9b::a9fe:a9fe]/latest",  # NAT64 of 169.254.169.254
        "https://[2002:a9fe:a9fe::1]/latest",  # 6to4 of 169.254.169.254
        "https://[::127.0.0.1]/hook",  # IPv4-compatible loopback
        "https://[::ffff:169.254.169.254]/hook",  # IPv4-mapped
        "https://[64:ff9b:1::808:808]/hook",  # local-use NAT64 (RFC 8215)
        "https://8.8.8.8:0/hook",  # port 0
        "https://:@8.8.8.8/hook",  # empty credentials are still credentials
        "https://8.8.8.8:99999/hook",
        "https://8.8.8.8:-1/hook",
        "https://8.8.8.8:abc/hook",
        "https://[::1/hook",  # unclosed bracket
        "https://8.8.8.8/ho ok",
        "https://8.8.8.8/hook\x00",
        "https://" + "a" * 64 + ".example.com/hook",  # IDNA refuses a label over 63 characters
    ],
)
def test_ssrf_targets_are_refused(url: str) -> None:
    with pytest.raises(PermanentError) as caught:
        check_callback_url(url, STRICT)
    assert caught.value.code is ErrorCode.INVALID_CALLBACK_URL


def test_a_public_https_address_is_accepted() -> None:
    check_callback_url("https://8.8.8.8/hook", STRICT)  # an IP literal: no DNS needed


def test_local_policy_allows_a_local_receiver() -> None:
    check_callback_url("http://127.0.0.1:8080/hook", CallbackPolicy(allow_http=True, allow_private=True))


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/", "http://127.0.0.1:-1/", "http://h:abc/", "http://[::1/"])
def test_an_unreadable_url_is_refused_under_every_policy(url: str) -> None:
    """urlsplit raises ValueError for these: it escaped as a 500 ``internal_error`` from POST /api/uploads."""
    for policy in (STRICT, CallbackPolicy(allow_http=True, allow_private=True)):
        with pytest.raises(PermanentError) as caught:
            check_callback_url(url, policy)
        assert caught.value.code is ErrorCode.INVALID_CALLBACK_URL


@pytest.mark.parametrize("url", ["https://[64:ff9b::808:808]/hook", "https://[2002:808:808::1]/hook"])
def test_nat64_and_6to4_of_a_public_address_are_accepted(url: str) -> None:
    check_callback_url(url, STRICT)


def test_signatures_follow_standard_webhooks() -> None:
    secret = new_secret()
    signature = sign(secret, "msg_1", 1700000000, b'{"a":1}')
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, b'msg_1.1700000000.{"a":1}', hashlib.sha256).digest()).decode()
    assert signature == f"v1,{expected}"
    assert sign(secret, "msg_1", 1700000001, b'{"a":1}') != signature  # the timestamp is signed too
    assert new_secret() != secret


class _Receiver:
    """An HTTP server on one loopback address that records the requests it gets."""

    def __init__(self, address: str, port: int = 0) -> None:
        import http.server
        import threading

        seen: list[dict[str, str]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                seen.append({"host": self.headers.get("host", ""), "id": self.headers.get("webhook-id", "")})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.seen = seen
        self.server = http.server.ThreadingHTTPServer((address, port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_delivery_connects_to_the_address_that_was_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: hooks.example resolves to a public address (8.8.8.8) for the check and to 127.0.0.1 a moment
    later. The request must go to the checked address, with the name in its Host header, and never to 127.0.0.1.
    The test's network plays 8.8.8.8 with a receiver on 127.0.0.2."""
    import socket

    from shared.jobs.webhooks import deliver, event

    public = _Receiver("127.0.0.2")
    rebound = _Receiver("127.0.0.1", public.port)
    answers = iter(["8.8.8.8"] + ["127.0.0.1"] * 10)
    real_lookup, real_connect = socket.getaddrinfo, socket.create_connection

    def rebinding(host: str, port: object, *args: object, **kwargs: object) -> list:
        return real_lookup(next(answers) if host == "hooks.example" else host, port, *args, **kwargs)  # type: ignore[arg-type]

    def network(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        host, port = address
        return real_connect(("127.0.0.2" if host == "8.8.8.8" else host, port), *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(socket, "create_connection", network)
    try:
        message_id, body = event("completed", "job-1", {"status": "completed"})
        url = f"http://hooks.example:{public.port}/hook"
        status = deliver(url, new_secret(), message_id, body, CallbackPolicy(allow_http=True))
    finally:
        public.close()
        rebound.close()
    assert status == 204
    assert public.seen == [{"host": f"hooks.example:{public.port}", "id": message_id}]
    assert rebound.seen == []


def test_a_name_that_resolves_to_a_private_address_at_delivery_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from shared.jobs.webhooks import deliver

    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))]
    )
    with pytest.raises(PermanentError) as caught:
        deliver("https://hooks.example/hook", new_secret(), "msg", b"{}", STRICT)
    assert caught.value.code is ErrorCode.INVALID_CALLBACK_URL
