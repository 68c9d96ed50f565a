"""The vps.monitoring.private_address test: where an exporter without authentication may listen."""

from __future__ import annotations

import pytest
from ansible_collections.vps.monitoring.plugins.test.private_address import is_private_address


@pytest.mark.parametrize("value", ["127.0.0.1", "10.217.61.11", "172.16.0.1", "172.31.255.254", "192.168.1.5",
                                   "100.64.0.1", "100.127.255.254", "::1", "fd00::5", "[fd12:3456::1]"])
def test_loopback_and_private_addresses_pass(value):
    assert is_private_address(value)


@pytest.mark.parametrize("value", ["0.0.0.0", "::", "8.8.8.8", "172.32.0.1", "100.128.0.1", "169.254.1.1",
                                   "fe80::1", "2001:db8::1", "224.0.0.1", "localhost", "host.example.org",
                                   "10.0.0.300", "", None, 10])
def test_everything_else_fails(value):
    assert not is_private_address(value)
