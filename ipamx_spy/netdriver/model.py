"""The driver's state: networks and endpoints, as values, and their JSON form on disk.

Nothing here touches a link. ``DriverState`` is immutable: every change returns a new state, so a
planned change can be thrown away when the kernel or the disk refuses it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

JSON = Any

STATE_FORMAT = "ipamx-spy-network-state"
STATE_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class Subnet:
    """One IPAM pool of a network and the gateway dockerd got for it (``ip/len`` or ``""``)."""

    pool: str
    gateway: str = ""

    def contains(self, address: str) -> bool:
        """Whether ``address`` (plain or ``ip/len``) lies in this pool."""
        ip = ipaddress.ip_interface(address).ip
        return ip in ipaddress.ip_network(self.pool, strict=False)

    @property
    def gateway_ip(self) -> str:
        return str(ipaddress.ip_interface(self.gateway).ip) if self.gateway else ""


@dataclass(frozen=True, kw_only=True)
class Network:
    """A network this driver created: its bridge and its pools."""

    network_id: str
    bridge: str
    ipv4: tuple[Subnet, ...] = ()
    ipv6: tuple[Subnet, ...] = ()
    internal: bool = False

    @property
    def bridge_addresses(self) -> tuple[str, ...]:
        """The gateway addresses (``ip/len``) the bridge carries, IPv4 first."""
        return tuple(s.gateway for s in (*self.ipv4, *self.ipv6) if s.gateway)

    def gateway_for(self, address: str, subnets: tuple[Subnet, ...]) -> str:
        """The plain gateway IP a container with ``address`` should use ("" for none).

        The gateway of the pool holding the address, else the first gateway of the family;
        none on ``--internal`` networks (like Docker's bridge driver) or without an address.
        """
        if self.internal or not address:
            return ""
        with_gateway = [s for s in subnets if s.gateway]
        for subnet in with_gateway:
            if subnet.contains(address):
                return subnet.gateway_ip
        return with_gateway[0].gateway_ip if with_gateway else ""


@dataclass(frozen=True, kw_only=True)
class DriverEndpoint:
    """An endpoint this driver created: a veth pair whose host end sits on the bridge."""

    endpoint_id: str
    network_id: str
    host_veth: str
    container_veth: str
    mac: str
    address: str = ""
    address6: str = ""
    sandbox: str = ""


@dataclass(frozen=True, kw_only=True)
class DriverState:
    """Every network and endpoint the driver knows, keyed by their dockerd IDs."""

    networks: Mapping[str, Network] = field(default_factory=dict)
    endpoints: Mapping[str, DriverEndpoint] = field(default_factory=dict)

    def link_names(self) -> set[str]:
        """Every link name the state claims (bridges and both veth ends)."""
        names = {n.bridge for n in self.networks.values()}
        for ep in self.endpoints.values():
            names.update((ep.host_veth, ep.container_veth))
        return names

    def with_network(self, network: Network) -> DriverState:
        return replace(self, networks={**self.networks, network.network_id: network})

    def with_endpoint(self, endpoint: DriverEndpoint) -> DriverState:
        return replace(self, endpoints={**self.endpoints, endpoint.endpoint_id: endpoint})

    def without_endpoint(self, endpoint_id: str) -> DriverState:
        return replace(self, endpoints={k: v for k, v in self.endpoints.items()
                                        if k != endpoint_id})

    def without_network(self, network_id: str) -> DriverState:
        """The state without the network and without any endpoint still on it."""
        return DriverState(
            networks={k: v for k, v in self.networks.items() if k != network_id},
            endpoints={k: v for k, v in self.endpoints.items() if v.network_id != network_id})

    def endpoints_of(self, network_id: str) -> tuple[DriverEndpoint, ...]:
        return tuple(e for e in self.endpoints.values() if e.network_id == network_id)


# -- JSON form ------------------------------------------------------------------------------


def _subnet_json(subnet: Subnet) -> dict[str, JSON]:
    return {"pool": subnet.pool, "gateway": subnet.gateway}


def _network_json(network: Network) -> dict[str, JSON]:
    return {"network_id": network.network_id, "bridge": network.bridge,
            "ipv4": [_subnet_json(s) for s in network.ipv4],
            "ipv6": [_subnet_json(s) for s in network.ipv6], "internal": network.internal}


def _endpoint_json(ep: DriverEndpoint) -> dict[str, JSON]:
    return {"endpoint_id": ep.endpoint_id, "network_id": ep.network_id,
            "host_veth": ep.host_veth, "container_veth": ep.container_veth, "mac": ep.mac,
            "address": ep.address, "address6": ep.address6, "sandbox": ep.sandbox}


def state_to_json(state: DriverState, plugin: str) -> dict[str, JSON]:
    """The state file's content (sorted by ID, so that equal states write equal files)."""
    return {
        "format": STATE_FORMAT, "version": STATE_VERSION, "plugin": plugin,
        "networks": [_network_json(state.networks[k]) for k in sorted(state.networks)],
        "endpoints": [_endpoint_json(state.endpoints[k]) for k in sorted(state.endpoints)],
    }


def state_from_json(data: JSON) -> DriverState:
    """Read a state file's content. Raises ValueError naming what is wrong with it."""
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
        raise ValueError(f"not an ipamx-spy network-driver state (format is not {STATE_FORMAT!r})")
    if data.get("version") != STATE_VERSION:
        raise ValueError(f"network-driver state version {data.get('version')!r} is not "
                         f"supported (this ipamx-spy reads version {STATE_VERSION})")
    try:
        networks = [_network_from(n) for n in data.get("networks", [])]
        endpoints = [DriverEndpoint(**e) for e in data.get("endpoints", [])]
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"network-driver state has a malformed entry: {exc}") from exc
    known = {n.network_id for n in networks}
    orphans = [e.endpoint_id for e in endpoints if e.network_id not in known]
    if orphans:
        raise ValueError(f"network-driver state lists endpoints of unknown networks: {orphans}")
    return DriverState(networks={n.network_id: n for n in networks},
                       endpoints={e.endpoint_id: e for e in endpoints})


def _network_from(data: dict[str, JSON]) -> Network:
    return Network(network_id=data["network_id"], bridge=data["bridge"],
                   ipv4=tuple(Subnet(**s) for s in data.get("ipv4", [])),
                   ipv6=tuple(Subnet(**s) for s in data.get("ipv6", [])),
                   internal=bool(data.get("internal", False)))
