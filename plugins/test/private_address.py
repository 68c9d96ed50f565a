# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja test: is a value a loopback or private IP address? (docs in private_address.yml)"""

from __future__ import annotations

import ipaddress

# Shared address space of carrier-grade NAT, where overlay VPNs (Tailscale)
# put hosts; Python does not count it as private.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def is_private_address(value) -> bool:
    """True for a loopback, RFC 1918, 100.64.0.0/10 or IPv6 unique-local address."""
    try:
        address = ipaddress.ip_address(str(value).strip("[]"))
    except ValueError:
        return False
    if address.is_unspecified or address.is_multicast or address.is_link_local:
        return False
    if address.version == 4:
        return address.is_loopback or address.is_private or address in _CGNAT
    return address.is_loopback or address in ipaddress.ip_network("fc00::/7")


class TestModule:
    """Ansible test plugins of vps.monitoring."""

    def tests(self):
        return {"private_address": is_private_address}
