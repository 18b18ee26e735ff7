"""Go's parsers for the address formats dockerd reads from plugins: ``net.ParseIP``,
``net.ParseCIDR`` (kept with its host bits, as libnetwork's ``types.ParseCIDR`` does) and
``net.ParseMAC``."""

from __future__ import annotations

import functools
import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def parse_ip(text: object) -> IPAddress | None:
    """``net.ParseIP``: a plain IPv4 or IPv6 address (no prefix, no zone), or None."""
    return _parse_ip(text) if isinstance(text, str) else None


def parse_cidr(text: object) -> IPInterface | None:
    """``net.ParseCIDR``: ``ip/len`` with a decimal length (host bits allowed), or None."""
    return _parse_cidr(text) if isinstance(text, str) else None


# Both parsers are pure functions of a string: a session names the same addresses again and
# again (a pool in every RequestAddress, an address in its ReleaseAddress), so answers are
# kept. Objects of ``ipaddress`` are immutable, so sharing them is safe.
_CACHED = 8192


def _ipv4(text: str) -> int | None:
    """A dotted quad as an integer, by ``ipaddress``'s rules (four decimal octets, no leading
    zero, none above 255), or None when it is not one (the caller then asks ``ipaddress``)."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    value = 0
    for part in parts:
        if not (0 < len(part) <= 3 and part.isascii() and part.isdigit()) \
                or (part[0] == "0" and len(part) > 1):
            return None
        octet = int(part)
        if octet > 255:
            return None
        value = value << 8 | octet
    return value


@functools.lru_cache(maxsize=_CACHED)
def _parse_ip(text: str) -> IPAddress | None:
    if "%" in text or "/" in text:
        return None
    quad = _ipv4(text)
    if quad is not None:
        return ipaddress.IPv4Address(quad)
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def cidr_ip(text: object) -> IPAddress | None:
    """``parse_cidr(text).ip`` without building the network: the address of an ``ip/len``
    Go's ``net.ParseCIDR`` takes, or None when it refuses the text (what a validity check or
    a ledger of handed-out addresses needs; each new address costs a third of a full parse)."""
    return _cidr_ip(text) if isinstance(text, str) else None


@functools.lru_cache(maxsize=_CACHED)
def _cidr_ip(text: str) -> IPAddress | None:
    if text.count("/") != 1:
        return None
    address, length = text.split("/")
    ip = _parse_ip(address)
    if ip is None or not (length.isascii() and length.isdigit()) \
            or int(length) > ip.max_prefixlen:
        return None
    return ip


@functools.lru_cache(maxsize=_CACHED)
def _parse_cidr(text: str) -> IPInterface | None:
    ip = _cidr_ip(text)  # the one reading of what Go takes
    if ip is None:
        return None
    length = int(text.partition("/")[2])
    if ip.version == 4:
        return ipaddress.IPv4Interface((int(ip), length))
    return ipaddress.ip_interface(f"{ip}/{length}")


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
