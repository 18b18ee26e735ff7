"""Link names, ownership markers and MAC addresses of the reference network driver.

Every link the driver makes carries two marks so that a restarted plugin can tell its own
leftovers from everybody else's links:

* its **name**: a 6-character tag derived from the plugin name (``ix`` + 4 hex digits of a hash),
  one role letter (``b`` bridge, ``h`` host end of a veth, ``c`` container end) and 8 hex digits
  of the network or endpoint ID, 15 characters in all (Linux's limit, ``IFNAMSIZ`` - 1);
* its **alias** (``ip -d link show`` prints it): ``ipamx-spy:<role>:<id>:<plugin>``, the ID and
  the plugin name percent-encoded (``:`` becomes ``%3A``; hex IDs and usual names are unchanged).

A link is ours when its alias names our plugin. A link without an alias is ours when its name has
our exact pattern: that covers a plugin killed between creating a link and labelling it (the
kernel ignores an alias given at creation, so the label is a second netlink call).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote

from ..dockerd.goparse import parse_mac

LINK_NAME_MAX = 15
FRAGMENT = 8
MARKER = "ipamx-spy"
ROLES: dict[str, str] = {"bridge": "b", "host": "h", "container": "c"}



@dataclass(frozen=True, kw_only=True)
class Naming:
    """How one plugin instance (one plugin name) names and recognises its links."""

    plugin: str
    tag: str

    def __post_init__(self) -> None:
        if len(self.tag) + 1 + FRAGMENT > LINK_NAME_MAX:
            raise ValueError(f"link-name tag {self.tag!r} is too long: names would exceed "
                             f"{LINK_NAME_MAX} characters")

    @classmethod
    def for_plugin(cls, plugin: str) -> Naming:
        """The naming for plugin ``plugin``: tag ``ix`` + the first 4 hex digits of SHA-256."""
        return cls(plugin=plugin, tag="ix" + hashlib.sha256(plugin.encode()).hexdigest()[:4])

    def link_name(self, role: str, fragment: str) -> str:
        return f"{self.tag}{ROLES[role]}{fragment}"

    def marker(self, role: str, object_id: str) -> str:
        """The alias put on a link: which role, which network or endpoint, which plugin."""
        return f"{MARKER}:{role}:{quote(object_id, safe='')}:{quote(self.plugin, safe='')}"

    def owns(self, name: str, alias: str) -> bool:
        """Whether a link with this name and alias was made by this plugin instance."""
        if alias:
            parsed = parse_marker(alias)
            return parsed is not None and parsed[2] == self.plugin
        return _name_pattern(self.tag).match(name) is not None

    def fragment_for(self, object_id: str, roles: Iterable[str], taken: set[str]) -> str:
        """An ID fragment whose link names for ``roles`` are all free.

        Raises ValueError when none is (eight candidates per ID: practically never).
        """
        wanted = tuple(roles)
        for fragment in fragments(object_id):
            if not any(self.link_name(role, fragment) in taken for role in wanted):
                return fragment
        raise ValueError(f"no free link name for {object_id!r}: every candidate is in use")


@functools.cache
def _name_pattern(tag: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(tag)}[bhc][0-9a-f]{{{FRAGMENT}}}$")


def parse_marker(alias: str) -> tuple[str, str, str] | None:
    """``(role, id, plugin)`` from an alias written by ``Naming.marker``, or None."""
    parts = alias.split(":")
    if len(parts) != 4 or parts[0] != MARKER or parts[1] not in ROLES:
        return None
    return parts[1], unquote(parts[2]), unquote(parts[3])


def fragments(object_id: str) -> Iterator[str]:
    """Candidate 8-hex-digit fragments: windows of a hex ID, else of its SHA-256."""
    lowered = object_id.lower()
    source = lowered if re.fullmatch(r"[0-9a-f]{8,}", lowered) else (
        hashlib.sha256(object_id.encode()).hexdigest())
    for start in range(0, len(source) - FRAGMENT + 1, FRAGMENT):
        yield source[start:start + FRAGMENT]


def generated_mac(endpoint_id: str) -> str:
    """A stable, locally administered unicast MAC for an endpoint (from a hash of its ID)."""
    digest = bytearray(hashlib.sha256(endpoint_id.encode()).digest()[:6])
    digest[0] = (digest[0] & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in digest)


def normal_mac(text: str) -> str:
    """``text`` as Go prints a MAC (lower case, colons), read by Go's ``net.ParseMAC`` (so
    ``02-42-…`` and ``0242.0a04.0415`` too). Raises ValueError unless it is 6 bytes: Go also
    parses 8- and 20-byte addresses, which an Ethernet link (a veth) cannot take."""
    mac = parse_mac(text)
    if mac is None or mac.count(":") != 5:
        kind = "not a MAC address" if mac is None else f"{mac.count(':') + 1} bytes long"
        raise ValueError(f"{text!r} is {kind}, not a 6-byte Ethernet address such as "
                         "02:42:0a:04:04:15")
    return mac
