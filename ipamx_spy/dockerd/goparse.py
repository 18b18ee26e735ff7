"""Go's parsers for the address formats dockerd reads from plugins: ``net.ParseIP``,
``net.ParseCIDR`` (kept with its host bits, as libnetwork's ``types.ParseCIDR`` does) and
``net.ParseMAC``."""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def parse_ip(text: object) -> IPAddress | None:
    """``net.ParseIP``: a plain IPv4 or IPv6 address (no prefix, no zone), or None."""
    if not isinstance(text, str) or "%" in text or "/" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_cidr(text: object) -> IPInterface | None:
    """``net.ParseCIDR``: ``ip/len`` with a decimal length (host bits allowed), or None."""
    if not isinstance(text, str) or text.count("/") != 1:
        return None
    address, length = text.split("/")
    ip = parse_ip(address)
    if ip is None or not length.isdigit() or int(length) > ip.max_prefixlen:
        return None
    return ipaddress.ip_interface(f"{ip}/{int(length)}")


def cidr_code(text: object) -> str | None:
    """``IPX203`` (an address without ``/len``), ``IPX204`` (not a CIDR) or None (fine)."""
    if parse_cidr(text) is not None:
        return None
    return "IPX203" if parse_ip(text) is not None else "IPX204"


_MAC = re.compile(
    r"^(?:[0-9A-Fa-f]{2}(?P<sep>[:-])[0-9A-Fa-f]{2}(?:(?P=sep)[0-9A-Fa-f]{2}){4,18}"
    r"|[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4}){2,9})$"
)


def parse_mac(text: object) -> str | None:
    """``net.ParseMAC`` (6, 8 or 20 bytes as ``aa:bb``, ``aa-bb`` or ``aabb.ccdd`` groups),
    printed as Go prints it (lower case, colons); None when Go refuses it."""
    if not isinstance(text, str) or _MAC.match(text) is None:
        return None
    digits = re.sub(r"[:.-]", "", text).lower()
    if len(digits) // 2 not in {6, 8, 20}:
        return None
    return ":".join(digits[i:i + 2] for i in range(0, len(digits), 2))
