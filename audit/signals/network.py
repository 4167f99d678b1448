"""Country signal from the IP address that served a page or image (``server_ip``, WEAK).

The country comes from the Regional Internet Registries' delegation files bundled with ``iptocc`` (offline). It is the
country the address block was delegated to, which for CDNs, cloud hosting and anycast says where the provider is
registered, not where the publisher or the people in the photos are."""

from __future__ import annotations

import ipaddress
import logging

import iptocc

from audit.signals.base import Signal, Strength
from audit.signals.languages import country_code

logger = logging.getLogger(__name__)


def server_ip_signals(ip: str | None) -> list[Signal]:
    """One WEAK ``server_ip`` signal for a public IPv4/IPv6 address whose block is delegated to a country."""
    if not ip or len(ip) > 64:
        return []
    try:
        addr = ipaddress.ip_address(ip.strip().strip("[]"))
    except ValueError:
        return []
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if not addr.is_global:
        return []
    try:
        cc = iptocc.country_code(str(addr))
    except (ValueError, TypeError) as exc:
        logger.debug("iptocc failed on %s: %s", addr, exc)
        return []
    code = country_code(cc) if cc else None  # drops RIR pseudo-codes (EU, AP, ZZ)
    if code is None:
        return []
    return [Signal(kind="server_ip", country=code, strength=Strength.WEAK,
                   evidence=f"server IP {addr} (RIR delegation {cc})")]
