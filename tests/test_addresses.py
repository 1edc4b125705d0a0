"""Which addresses a URL typed into a widget may reach: public ones only, however they are written."""

import pytest

from hubs.services.http import is_public_address

ADDRESSES = [
    ("8.8.8.8", True),
    ("2606:4700::1111", True),
    ("127.0.0.1", False), ("10.0.0.1", False), ("192.168.1.1", False), ("169.254.169.254", False),
    ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False), ("255.255.255.255", False),
    ("::1", False), ("fe80::1", False), ("fe80::1%eth0", False), ("fc00::1", False), ("ff02::1", False),
    # IPv6 forms that carry an IPv4 address: judged by where they lead
    ("::ffff:127.0.0.1", False), ("::ffff:10.1.2.3", False), ("::ffff:8.8.8.8", True),
    ("64:ff9b::7f00:1", False),          # NAT64 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", False),       # NAT64 of 169.254.169.254 (cloud metadata)
    ("64:ff9b::808:808", True),          # NAT64 of 8.8.8.8
    ("64:ff9b:1::a00:1", False),         # local-use NAT64 prefix
    ("2002:7f00:1::1", False),           # 6to4 of 127.0.0.1
    ("2002:a00:1::1", False),            # 6to4 of 10.0.0.1
    ("2002:808:808::1", True),           # 6to4 of 8.8.8.8
    ("::127.0.0.1", False),              # IPv4-compatible (deprecated)
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo
    ("not an address", False), ("", False),
]


@pytest.mark.parametrize(("address", "public"), ADDRESSES)
def test_is_public_address(address, public):
    """Loopback, private, link-local, multicast and their IPv6-embedded forms are not public."""
    assert is_public_address(address) is public
