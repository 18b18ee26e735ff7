"""Go's parsers for the address formats dockerd reads from plugins: ``net.ParseIP``,
``net.ParseCIDR`` (kept with its host bits, as libnetwork's ``types.ParseCIDR`` does) and
``net.ParseMAC``."""

from __future__ import annotations

import ipaddress
import re

from .memo import Memo

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def parse_ip(text: object) -> IPAddress | None:
    """``net.ParseIP``: a plain IPv4 or IPv6 address (no prefix, no zone), or None."""
    return _parse_ip(text) if isinstance(text, str) else None


def parse_cidr(text: object) -> IPInterface | None:
    """``net.ParseCIDR``: ``ip/len`` with a decimal length (host bits allowed), or None."""
    return _parse_cidr(text) if isinstance(text, str) else None


# The parsers are pure functions of a string: a session names the same addresses again and
# again (a pool in every RequestAddress, an address in its answer, then in its ReleaseAddress,
# each read by the reader's follower and by the validator), so answers are kept. Objects of
# ``ipaddress`` are immutable, so sharing them is safe. A plain dict per parser, emptied when
# full (``memo.Memo``): a lookup costs a dict's, and a new address (most of a long session's
# are new) costs no more than its parse (``functools.lru_cache``'s bookkeeping of a full cache
# cost as much as the parse itself).
_CACHED = 8192

_OCTETS: dict[str, int] = {str(n): n for n in range(256)}
"""Every octet of a dotted quad as ``ipaddress`` takes it (Go's ``net.ParseIP`` too, since
Go 1.17): ASCII decimal, no leading zero, none above 255."""

_LENGTHS: dict[str, int] = {str(n): n for n in range(129)}
"""The prefix lengths as usually written (``24``); any other run of ASCII digits (``024``) is
read by ``int``."""


def _ipv4(text: str) -> int | None:
    """A dotted quad as an integer, by ``ipaddress``'s rules (four decimal octets, no leading
    zero, none above 255), or None when it is not one (the caller then asks ``ipaddress``)."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    a, b, c, d = parts
    octets = _OCTETS
    if a in octets and b in octets and c in octets and d in octets:
        return octets[a] << 24 | octets[b] << 16 | octets[c] << 8 | octets[d]
    return None


def _parse_ip(text: str) -> IPAddress | None:
    return _IPS[text]


def _read_ip(text: str) -> IPAddress | None:
    if "%" in text or "/" in text:
        return None
    quad = _ipv4(text)
    if quad is not None:
        return ipaddress.IPv4Address(quad)
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


_IPS: Memo[str, IPAddress | None] = Memo(_read_ip, _CACHED)


def cidr_ip(text: object) -> IPAddress | None:
    """``parse_cidr(text).ip`` without building the network: the address of an ``ip/len``
    Go's ``net.ParseCIDR`` takes, or None when it refuses the text (what a validity check or
    a ledger of handed-out addresses needs; each new address costs a third of a full parse)."""
    return _CIDR_IPS[text] if isinstance(text, str) else None


def _read_cidr_ip(text: str) -> IPAddress | None:
    address, slash, length = text.partition("/")
    if not slash or "/" in length:  # exactly one "/"
        return None
    ip = _parse_ip(address)
    if ip is None:
        return None
    bits = _LENGTHS.get(length)
    if bits is None:
        if not (length.isascii() and length.isdigit()):
            return None
        digits = length.lstrip("0")
        if len(digits) > 3:  # longer than any length; int() refuses above 4,300 digits
            return None
        bits = int(digits or "0")
    return ip if bits <= ip.max_prefixlen else None


_CIDR_IPS: Memo[str, IPAddress | None] = Memo(_read_cidr_ip, _CACHED)


def _parse_cidr(text: str) -> IPInterface | None:
    return _CIDRS[text]


def _read_cidr(text: str) -> IPInterface | None:
    ip = cidr_ip(text)  # the one reading of what Go takes
    if ip is None:
        return None
    length = int(text.partition("/")[2].lstrip("0") or "0")
    if ip.version == 4:
        return ipaddress.IPv4Interface((int(ip), length))
    return ipaddress.ip_interface(f"{ip}/{length}")


_CIDRS: Memo[str, IPInterface | None] = Memo(_read_cidr, _CACHED)


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
