"""The random values dockerd puts on the wire: NetworkID, EndpointID, SandboxKey and MACs.

The emulator asks for a value only when it first sends it to the plugin, so a recording can
supply them: ``RecordedIds`` hands out, per kind, the values of a recording's requests in the
order they first appear there. That is all that differs between two runs of one scenario, so
with recorded ids and recorded answers the emulator's requests compare byte for byte.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from ipamx_spy.dockerd import Endpoint
from ipamx_spy.dockerd.options import MAC_OPTION
from ipamx_spy.recording import Exchange

KINDS = ("network", "endpoint", "sandbox", "mac", "swarm-network")
SWARM_NETWORK_CALLS = (Endpoint.ALLOCATE_NETWORK, Endpoint.FREE_NETWORK)
"""The calls that name a swarm network (swarmkit's id: 25 letters and digits)."""


class IdSource(Protocol):
    def take(self, kind: str) -> str:
        """A new value of ``kind`` (one of ``KINDS``)."""
        ...


@dataclass
class RandomIds:
    """dockerd's own generators: 64 hex digits, ``<exec-root>/netns/<12 hex>``, ``02:42:..``."""

    exec_root: str = "/var/run/docker"
    rng: random.Random = field(default_factory=random.Random)

    def hex(self, digits: int = 64) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(digits))

    def take(self, kind: str) -> str:
        if kind == "sandbox":
            return f"{self.exec_root.rstrip('/')}/netns/{self.hex(12)}"
        if kind == "mac":
            return "02:42:" + ":".join(f"{self.rng.randrange(256):02x}" for _ in range(4))
        if kind == "swarm-network":  # swarmkit's identity.NewID: base 36, 25 digits
            return "".join(self.rng.choice("0123456789abcdefghijklmnopqrstuvwxyz")
                           for _ in range(25))
        return self.hex()


@dataclass
class RecordedIds:
    """Values taken from a recording, in order of first appearance; ``fallback`` after that."""

    queues: dict[str, list[str]]
    fallback: IdSource = field(default_factory=RandomIds)

    def take(self, kind: str) -> str:
        queue = self.queues.get(kind)
        return queue.pop(0) if queue else self.fallback.take(kind)

    @classmethod
    def from_exchanges(cls, exchanges: Iterable[Exchange], *, exclude_macs: Iterable[str] = (),
                       fallback: IdSource | None = None) -> RecordedIds:
        """Collect NetworkID, EndpointID, SandboxKey and generated MACs from the requests.
        ``exclude_macs``: MACs the scenario sets itself (``--mac-address``)."""
        excluded = {m.lower() for m in exclude_macs}
        queues: dict[str, list[str]] = {kind: [] for kind in KINDS}
        for exchange in exchanges:
            body = exchange.request.value
            if not isinstance(body, dict):
                continue
            for kind, value in _values(exchange.endpoint, body):
                if kind == "mac" and value.lower() in excluded:
                    continue
                if value and value not in queues[kind]:
                    queues[kind].append(value)
        return cls(queues=queues, fallback=fallback or RandomIds())


def _values(endpoint: str, body: dict[str, object]) -> list[tuple[str, str]]:
    network = "swarm-network" if endpoint in SWARM_NETWORK_CALLS else "network"
    found = [(network, body.get("NetworkID")), ("endpoint", body.get("EndpointID")),
             ("sandbox", body.get("SandboxKey"))]
    options = body.get("Options")
    if endpoint == Endpoint.REQUEST_ADDRESS and isinstance(options, dict):
        found.append(("mac", options.get(MAC_OPTION)))
    interface = body.get("Interface")
    if endpoint == Endpoint.CREATE_ENDPOINT and isinstance(interface, dict):
        found.append(("mac", interface.get("MacAddress")))
    return [(kind, value) for kind, value in found if isinstance(value, str)]
