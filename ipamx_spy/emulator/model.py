"""The daemon state the emulator keeps: plugins, networks, containers, sandboxes, endpoints.

A sandbox keeps its endpoints the way libnetwork does, in a ``container/heap`` array ordered by
``epHeap.Less`` (gateway-bridge endpoints last, then internal ones; dual-stack gateways first;
then by network name). dockerd iterates that *array*, not a sorted list, when it looks for the
gateway endpoint, asks EndpointOperInfo, or tears a sandbox down, so the heap's own push and
remove steps are reproduced (``Sandbox.push`` / ``Sandbox.remove``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from ..dockerd.scopes import Scope
from .scenario import Port

JSON = Any
GWBRIDGE = "docker_gwbridge"


@dataclass
class PluginState:
    """One plugin name as this daemon lifetime knows it (activated once, PROTOCOL.md 1.5)."""

    name: str
    implements: tuple[str, ...] = ()
    driver_ok: bool = False  # NetworkDriver handler registered the driver
    driver_error: str = ""
    scope: Scope = Scope.LOCAL  # the driver's capability, as GetCapabilities answered it
    connectivity_scope: Scope | None = None  # None: not given (dockerd takes Scope's)
    gw_alloc_checker: bool = False
    ipam_ok: bool = False  # IpamDriver handler registered the allocator
    requires_mac: bool = False
    requires_replay: bool = False
    local_space: str = ""
    global_space: str = ""


@dataclass(frozen=True, kw_only=True)
class SubnetConfig:
    """One user IPAM config (one ``--subnet`` with its range, gateway and aux addresses)."""

    subnet: str = ""
    ip_range: str = ""
    gateway: str = ""
    aux: tuple[tuple[str, str], ...] = ()


@dataclass
class PoolInfo:
    """What dockerd keeps of an allocated pool (``IpamInfo``)."""

    pool_id: str
    pool: str  # as dockerd prints it: the answered CIDR, host bits kept
    gateway: str | None = None  # CIDR
    aux: list[tuple[str, str]] = field(default_factory=list)  # name, CIDR

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.pool, strict=False)


@dataclass
class EmulatedNetwork:
    id: str
    name: str
    driver: str
    ipam_driver: str
    remote_driver: bool
    remote_ipam: bool
    internal: bool = False
    ipv4: bool = True
    ipv6: bool = False
    scope: str = Scope.LOCAL  # docker's network scope: a driver's Scope, or "swarm"
    address_space: str = ""
    generic: dict[str, str] = field(default_factory=dict)
    ipam_options: dict[str, str] | None = field(default_factory=dict)  # None: sent as null
    configs: dict[int, list[SubnetConfig]] = field(default_factory=lambda: {4: [], 6: []})
    infos: dict[int, list[PoolInfo]] = field(default_factory=lambda: {4: [], 6: []})
    endpoints: int = 0

    @property
    def takes_endpoints(self) -> bool:
        return self.driver not in {"null", "host"}


@dataclass
class EmulatedEndpoint:
    id: str
    name: str
    network: EmulatedNetwork
    addr4: str = ""  # CIDR as answered
    addr6: str = ""
    pool4: str = ""
    pool6: str = ""
    mac: str = ""
    gw4: str = ""  # from the driver's Join answer
    gw6: str = ""
    default_route4: bool = False
    default_route6: bool = False
    disable_gw_service: bool = False
    gwnet: bool = False  # the docker_gwbridge endpoint
    joined: bool = False
    is_gateway: bool = False  # v29: the remote shim's memory

    @property
    def remote(self) -> bool:
        return self.network.remote_driver

    @property
    def internal(self) -> bool:
        return self.network.internal

    def has_gateway(self, ipv6_counts: bool) -> bool:
        return bool(self.gw4 or self.default_route4 or (
            ipv6_counts and (self.gw6 or self.default_route6)))


def less(a: EmulatedEndpoint, b: EmulatedEndpoint) -> bool:
    """libnetwork's ``epHeap.Less`` (all endpoint priorities are 0 here)."""
    if a.gwnet:
        return False
    if b.gwnet:
        return True
    if a.internal:
        return False
    if b.internal:
        return True
    if a.joined and b.joined:
        a_dual, b_dual = bool(a.gw4 and a.gw6), bool(b.gw4 and b.gw6)
        if a_dual != b_dual:
            return a_dual
    return a.network.name.encode() < b.network.name.encode()


@dataclass
class Sandbox:
    """A container's network namespace and its endpoints (a heap array)."""

    key: str = ""  # SandboxKey, taken when first sent to a plugin
    endpoints: list[EmulatedEndpoint] = field(default_factory=list)

    def ordered(self) -> list[EmulatedEndpoint]:
        return list(self.endpoints)

    def push(self, ep: EmulatedEndpoint) -> None:
        self.endpoints.append(ep)
        self._up(len(self.endpoints) - 1)

    def remove(self, ep: EmulatedEndpoint) -> None:
        index = self.endpoints.index(ep)
        last = len(self.endpoints) - 1
        if index != last:
            self._swap(index, last)
            if not self._down(index, last):
                self._up(index)
        self.endpoints.pop()

    def _swap(self, i: int, j: int) -> None:
        self.endpoints[i], self.endpoints[j] = self.endpoints[j], self.endpoints[i]

    def _up(self, j: int) -> None:
        while j > 0:
            parent = (j - 1) // 2
            if not less(self.endpoints[j], self.endpoints[parent]):
                break
            self._swap(parent, j)
            j = parent

    def _down(self, start: int, n: int) -> bool:
        i = start
        while 2 * i + 1 < n:
            j = 2 * i + 1
            if j + 1 < n and less(self.endpoints[j + 1], self.endpoints[j]):
                j += 1
            if not less(self.endpoints[j], self.endpoints[i]):
                break
            self._swap(i, j)
            i = j
        return i > start

    # -- libnetwork's questions about a sandbox --------------------------------------------

    def gwnet_endpoint(self) -> EmulatedEndpoint | None:
        return next((ep for ep in self.endpoints if ep.gwnet), None)

    def gateway_endpoint(self) -> EmulatedEndpoint | None:
        """``getGatewayEndpoint``: the first endpoint (array order) with an IPv4 gateway."""
        return next((ep for ep in self.endpoints
                     if ep.network.takes_endpoints and ep.gw4), None)

    def need_default_gw(self, ipv6_counts: bool) -> bool:
        """``needDefaultGW``: some endpoint wants outside access and none gives a gateway."""
        need = False
        for ep in self.endpoints:
            if ep.gwnet or not ep.network.takes_endpoints or ep.internal:
                continue
            if ep.disable_gw_service:
                continue
            if ep.has_gateway(ipv6_counts):
                return False
            need = True
        return need


@dataclass
class Attachment:
    network: str
    ip: str = ""
    ip6: str = ""
    driver_opts: tuple[tuple[str, str], ...] = ()


@dataclass
class Container:
    id: str
    name: str
    attachments: list[Attachment]
    ports: tuple[Port, ...] = ()
    mac: str = ""
    dns: tuple[str, ...] = ()
    running: bool = False
    sandbox: Sandbox | None = None
    run_network: str = ""  # the --net of docker run (user MAC applies there)
