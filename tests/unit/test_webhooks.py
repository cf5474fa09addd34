import base64
import hashlib
import hmac

import pytest

from shared.errors import ErrorCode, PermanentError
from shared.webhooks import CallbackPolicy, check_callback_url, new_secret, sign

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


def test_signatures_follow_standard_webhooks() -> None:
    secret = new_secret()
    signature = sign(secret, "msg_1", 1700000000, b'{"a":1}')
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, b'msg_1.1700000000.{"a":1}', hashlib.sha256).digest()).decode()
    assert signature == f"v1,{expected}"
    assert sign(secret, "msg_1", 1700000001, b'{"a":1}') != signature  # the timestamp is signed too
    assert new_secret() != secret
