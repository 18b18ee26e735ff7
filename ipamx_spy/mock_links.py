"""The host interfaces of a mocked network driver.

A network driver's ``Join`` answer names a host interface (``InterfaceName.SrcName``) that
dockerd moves into the container's namespace; the real driver made it (a veth pair) at
``CreateEndpoint``. ``mock`` only has the recording, so without this dockerd fails the
``docker run`` with ``failed to get link by name SRCNAME``. ``HostInterfaces`` creates a veth
pair whose one end has the recorded name before the Join answer goes out, and removes it at
``DeleteEndpoint`` (dockerd has moved the interface back by then) and when the mock exits.
It decides names and actions; a ``HostLinkLayer`` (``netdriver.links.Netlink``) carries them out.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ipamx_spy.netdriver.core import Action, AddVeth, DeleteLink, ObservedLink

MARKER = "ipamx-spy mock"
"""The alias of every link the mock creates (``ip link`` shows it), so a leftover is known."""
MAX_NAME = 15  # IFNAMSIZ - 1


class HostLinkLayer(Protocol):
    def observe(self) -> tuple[ObservedLink, ...]: ...

    def apply(self, actions: Sequence[Action]) -> None: ...


def peer_name(src: str, taken: set[str]) -> str:
    """A free name for the host end of ``src``'s pair, derived from it (at most 15 chars)."""
    digest = hashlib.sha1(src.encode()).hexdigest()
    for number in range(100):
        name = f"ipxm{digest[:8]}{number or ''}"[:MAX_NAME]
        if name not in taken and name != src:
            return name
    raise RuntimeError("no free interface name")  # 100 links of one prefix: never in practice


@dataclass
class HostInterfaces:
    """Veth pairs for the SrcNames of the Join answers the mock sends, by live EndpointID."""

    links: HostLinkLayer
    pairs: dict[str, tuple[str, str]] = field(default_factory=dict)  # -> (SrcName, peer)

    def join(self, endpoint_id: str, src: str) -> str | None:
        """Make sure ``src`` exists for ``endpoint_id``; None when it does, else why not."""
        if self.pairs.get(endpoint_id, ("", ""))[0] == src:
            return None  # a retried Join
        try:
            taken = {link.name for link in self.links.observe()}
            if src in taken:
                return (f"the host already has an interface named {src}; dockerd would move it "
                        "into the container")
            peer = peer_name(src, taken)
            self.links.apply([AddVeth(host=peer, container=src, bridge="", mac="",
                                      host_marker=MARKER, container_marker=MARKER)])
        except OSError as exc:
            return str(exc)
        self.pairs[endpoint_id] = (src, peer)
        return None

    def delete(self, endpoint_id: str) -> None:
        """Remove the pair of ``endpoint_id`` (one end takes the other with it); never raises:
        a pair dockerd's container namespace took along is already gone."""
        pair = self.pairs.pop(endpoint_id, None)
        if pair is not None:
            with contextlib.suppress(OSError):
                self.links.apply([DeleteLink(name=pair[1])])

    def close(self) -> None:
        """Remove every pair still there (the mock is exiting)."""
        for endpoint_id in list(self.pairs):
            self.delete(endpoint_id)
