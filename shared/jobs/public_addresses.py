"""Which IP addresses the service may call on a customer's behalf: public unicast ones, IPv4 addresses hidden
inside IPv6 ones included.

``ipaddress``'s own ``is_global`` is not enough. Several IPv6 forms carry an IPv4 address that a gateway or the
host's own stack connects to, and Python 3.11 calls them global whatever they carry: the NAT64 well-known prefix
``64:ff9b::/96`` (RFC 6052: ``64:ff9b::a9fe:a9fe`` reaches 169.254.169.254, the cloud metadata endpoint), 6to4
``2002::/16`` (RFC 3056: ``2002:a9fe:a9fe::1``) and the deprecated IPv4-compatible ``::/96`` (RFC 4291 2.5.5.1:
``::127.0.0.1``). So the embedded IPv4 address is judged as well. The local-use NAT64 prefix ``64:ff9b:1::/48``
(RFC 8215) is site-specific, never a public destination.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_network

Address = IPv4Address | IPv6Address

NAT64_WELL_KNOWN = ip_network("64:ff9b::/96")
NAT64_LOCAL_USE = ip_network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ip_network("::/96")


def is_public(address: Address) -> bool:
    """A global unicast address whose IPv4 payload, if it carries one, is global unicast too."""
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, IPv6Address):
        if address in NAT64_LOCAL_USE:
            return False
        embedded = embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
    return True


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo client, NAT64, IPv4-compatible), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64_WELL_KNOWN or address in IPV4_COMPATIBLE:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return None
