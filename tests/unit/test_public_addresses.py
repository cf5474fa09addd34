"""Which addresses a webhook may go to, IPv4 payloads of IPv6 forms included (issue 22)."""

from ipaddress import ip_address

import pytest

from shared.jobs.public_addresses import embedded_ipv4, is_public


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("64:ff9b::808:808", True),  # NAT64 of a public address
        ("2002:808:808::1", True),  # 6to4 of a public address
        ("169.254.169.254", False),
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of the metadata endpoint: Python calls it global
        ("2002:a9fe:a9fe::1", False),  # 6to4 of the metadata endpoint: Python calls it global
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("::127.0.0.1", False),  # IPv4-compatible loopback: Python calls it global
        ("::ffff:10.0.0.1", False),
        ("64:ff9b:1::808:808", False),  # local-use NAT64 is site-specific
        ("100.64.0.1", False),  # carrier-grade NAT
        ("ff02::1", False),
        ("fe80::1", False),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(ip_address(address)) is public


def test_the_embedded_address_is_read_from_each_form() -> None:
    metadata = ip_address("169.254.169.254")
    for form in ("64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "::ffff:169.254.169.254", "::169.254.169.254"):
        assert embedded_ipv4(ip_address(form)) == metadata  # type: ignore[arg-type]
    assert embedded_ipv4(ip_address("2606:4700:4700::1111")) is None  # type: ignore[arg-type]
