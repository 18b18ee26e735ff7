"""IP addresses and prefixes as plain integers, parsed and printed the way Go's net/netip does.

The allocator does arithmetic on addresses (offsets, block boundaries, "the /24 after this /16"),
so a prefix here is ``(version, address as int, prefix length)``. ``Prefix`` keeps the address it
was given: like ``netip.Prefix`` it is *not* masked on parse, which matters because the default
IPAM looks pool IDs up by exact prefix (PROTOCOL.md 6.2), so ``LocalDefault/10.0.0.5/24`` never
finds the pool ``10.0.0.0/24``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

WIDTH = {4: 32, 6: 128}


@dataclass(frozen=True, slots=True)
class Addr:
    """One IPv4 or IPv6 address."""

    version: int
    value: int

    def __str__(self) -> str:
        return format_addr(self.version, self.value)

    def unmap(self) -> Addr:
        """An IPv4-mapped IPv6 address (``::ffff:1.2.3.4``) as the IPv4 address (netip Unmap)."""
        if self.version == 6 and self.value >> 32 == 0xFFFF:
            return Addr(version=4, value=self.value & 0xFFFFFFFF)
        return self


@dataclass(frozen=True, slots=True)
class Prefix:
    """An address and a prefix length; the address may have host bits set (netip.Prefix)."""

    version: int
    addr: int
    bits: int

    @property
    def width(self) -> int:
        return WIDTH[self.version]

    @property
    def host_bits(self) -> int:
        return self.width - self.bits

    @property
    def size(self) -> int:
        """How many addresses the prefix covers."""
        return 1 << self.host_bits

    @property
    def first(self) -> int:
        return self.addr >> self.host_bits << self.host_bits

    @property
    def last(self) -> int:
        return self.first | (self.size - 1)

    def masked(self) -> Prefix:
        return Prefix(self.version, self.first, self.bits)

    def contains(self, addr: Addr) -> bool:
        return addr.version == self.version and self.first <= addr.value <= self.last

    def overlaps(self, other: Prefix) -> bool:
        """True when the two prefixes share an address (netip Prefix.Overlaps)."""
        if other.version != self.version:
            return False
        shift = self.width - min(self.bits, other.bits)
        return self.addr >> shift == other.addr >> shift

    def key(self) -> tuple[int, int, int]:
        """Sort order of netiputil.PrefixCompare: family, address, then shorter prefix first."""
        return (self.version, self.addr, self.bits)

    def at(self, offset: int) -> Addr:
        """The address ``offset`` places after the prefix's first address."""
        return Addr(self.version, self.first + offset)

    def __str__(self) -> str:
        return f"{format_addr(self.version, self.addr)}/{self.bits}"


def format_addr(version: int, value: int) -> str:
    """Print like Go's netip: RFC 5952 for IPv6, dotted IPv4 inside ``::ffff:``."""
    if version == 4:
        return f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"
    if value >> 32 == 0xFFFF:
        return "::ffff:" + str(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address(value))


def parse_addr(text: str) -> Addr | None:
    """Parse like netip.ParseAddr without zones; None if it is not an address."""
    if not text or "%" in text or text.strip() != text:
        return None
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return None
    return Addr(parsed.version, int(parsed))


def parse_prefix(text: str) -> Prefix | None:
    """Parse like netip.ParsePrefix (strict, not masked); None if it is not a prefix."""
    addr_text, sep, bits_text = text.partition("/")
    if not sep or not bits_text.isascii() or not bits_text.isdigit():
        return None
    if len(bits_text) > 1 and bits_text[0] == "0":
        return None
    addr = parse_addr(addr_text)
    if addr is None:
        return None
    bits = int(bits_text)
    if bits > WIDTH[addr.version]:
        return None
    return Prefix(addr.version, addr.value, bits)


def parse_canonical(text: str) -> Prefix | None:
    """A prefix written exactly as the allocator writes it (masked, canonical), else None."""
    prefix = parse_prefix(text)
    if prefix is None or prefix.addr != prefix.first or str(prefix) != text:
        return None
    return prefix


def go_quote(text: str) -> str:
    """Go's ``%q`` (strconv.Quote) for the texts that appear in error messages."""
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
               "\t": "\\t", "\v": "\\v", "\\": "\\\\", '"': '\\"'}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'
