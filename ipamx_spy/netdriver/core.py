"""The reference network driver's decisions, without netlink: a request in, a ``LinkPlan`` out.

Theory of operation
-------------------
dockerd's ``NetworkDriver.*`` calls arrive as decoded JSON. ``Driver.plan(call, state,
request)`` answers each (a ``dockerd.Endpoint`` row: ``HANDLERS`` has one entry per row of the
interface, a fixed answer or a method) with a ``LinkPlan``: the state after the call, the
response for dockerd, and the link changes that make the kernel match the new state, in two
groups:

* ``setup`` (a bridge or a veth pair to create) is applied *before* the new state is saved. If the
  kernel or the disk refuses, ``undo(setup)`` removes what was made and the old state stays.
* ``teardown`` (links to delete) is applied *after* the new state is saved.

The saved state therefore never claims a link that was not made; at worst a link is left behind
unclaimed. ``reconcile``, run when the plugin starts, deletes every link that carries this plugin's
mark (``naming.Naming.owns``) and that no network or endpoint claims, and recreates the bridges of
known networks (after a reboot dockerd still has the network but never replays CreateNetwork,
PROTOCOL.md 5.7).

A request the driver cannot honour raises ``Refusal``; its text goes to dockerd in ``Err``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .. import dockerd
from ..dockerd.goparse import parse_cidr
from ..dockerd.gotypes import field_value
from ..dockerd.scopes import Scope
from .model import DriverEndpoint, DriverState, Network, Subnet
from .naming import Naming, generated_mac, normal_mac

JSON = Any
INTERNAL_OPTION = "com.docker.network.internal"
CONTAINER_PREFIX = "eth"


class Refusal(ValueError):
    """dockerd asked for something this driver cannot do. The text is meant for ``Err``."""


# -- link changes ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AddBridge:
    """Make sure bridge ``name`` exists with our ``marker``, carries ``addresses`` and is up."""

    name: str
    marker: str
    addresses: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"create bridge {self.name} with {', '.join(self.addresses) or 'no address'}"


@dataclass(frozen=True, kw_only=True)
class AddVeth:
    """Create a veth pair: ``host`` end on ``bridge`` (none: ``""``) and up, ``container`` end
    with ``mac`` (the kernel's random one: ``""``)."""

    host: str
    container: str
    bridge: str
    mac: str
    host_marker: str
    container_marker: str

    def describe(self) -> str:
        return f"create veth pair {self.host} (on {self.bridge}) / {self.container} ({self.mac})"


@dataclass(frozen=True, kw_only=True)
class DeleteLink:
    """Delete link ``name`` (a link that is already gone counts as deleted)."""

    name: str

    def describe(self) -> str:
        return f"delete link {self.name}"


Action = AddBridge | AddVeth | DeleteLink


@dataclass(frozen=True, kw_only=True)
class ObservedLink:
    """A link as the kernel lists it: what ``reconcile`` needs to know about it."""

    name: str
    alias: str = ""
    kind: str = ""


@dataclass(frozen=True, kw_only=True)
class LinkPlan:
    """What one call changes: see the module docstring for the order of application."""

    state: DriverState
    response: JSON
    setup: tuple[Action, ...] = ()
    teardown: tuple[Action, ...] = ()


def undo(setup: Iterable[Action]) -> tuple[DeleteLink, ...]:
    """The deletions that take back ``setup`` (newest first; a veth goes with its host end)."""
    undone: list[DeleteLink] = []
    for action in reversed(tuple(setup)):
        if isinstance(action, AddBridge):
            undone.append(DeleteLink(name=action.name))
        elif isinstance(action, AddVeth):
            undone.append(DeleteLink(name=action.host))
    return tuple(undone)


def reconcile(naming: Naming, state: DriverState,
              observed: Iterable[ObservedLink]) -> tuple[Action, ...]:
    """The changes that make the links match ``state`` when the plugin starts."""
    claimed = state.link_names()
    stray = tuple(DeleteLink(name=link.name) for link in observed
                  if naming.owns(link.name, link.alias) and link.name not in claimed)
    bridges = tuple(_add_bridge(naming, n) for n in state.networks.values())
    return stray + bridges


def _add_bridge(naming: Naming, network: Network) -> AddBridge:
    return AddBridge(name=network.bridge, marker=naming.marker("bridge", network.network_id),
                     addresses=network.bridge_addresses)


# -- answers that need no state ---------------------------------------------------------------

FIXED_ANSWERS: dict[dockerd.Endpoint, JSON] = {
    dockerd.Endpoint.NET_GET_CAPABILITIES: {"Scope": Scope.LOCAL, "ConnectivityScope": Scope.LOCAL},
    dockerd.Endpoint.GW_ALLOC_CHECK: {"SkipIPv4": False, "SkipIPv6": False},
    dockerd.Endpoint.ALLOCATE_NETWORK: {"Options": {}},
    dockerd.Endpoint.FREE_NETWORK: {},
    # Port publishing is not implemented: nothing to program or revoke (docs/network-driver.md).
    dockerd.Endpoint.PROGRAM_EXTERNAL_CONNECTIVITY: {},
    dockerd.Endpoint.REVOKE_EXTERNAL_CONNECTIVITY: {},
    dockerd.Endpoint.DISCOVER_NEW: {},
    dockerd.Endpoint.DISCOVER_DELETE: {},
}


# -- the driver -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Driver:
    """The driver's decisions for one plugin instance (its ``naming``)."""

    naming: Naming

    def plan(self, call: dockerd.Endpoint, state: DriverState,
             request: Mapping[str, JSON]) -> LinkPlan:
        """Answer ``call`` (a ``NetworkDriver.*`` row). Raises Refusal (for ``Err``), or
        KeyError for a row of another interface."""
        return HANDLERS[call](self, state, request)

    def create_network(self, state: DriverState, request: Mapping[str, JSON]) -> LinkPlan:
        network_id = _id(request, "NetworkID")
        if network_id in state.networks:
            raise Refusal(f"ipamx-spy: network {_short(network_id)} already exists")
        options = field_value(request, "Options")
        # Options is a map[string]interface{}: Go looks its keys up exactly (no case folding)
        internal = isinstance(options, Mapping) and options.get(INTERNAL_OPTION) is True
        fragment = self._fragment(network_id, ("bridge",), state)
        network = Network(network_id=network_id, bridge=self.naming.link_name("bridge", fragment),
                          ipv4=_subnets(request, "IPv4Data", 4),
                          ipv6=_subnets(request, "IPv6Data", 6), internal=internal)
        return LinkPlan(state=state.with_network(network), response={},
                    setup=(_add_bridge(self.naming, network),))

    def delete_network(self, state: DriverState, request: Mapping[str, JSON]) -> LinkPlan:
        network = _network(state, request)
        veths = tuple(DeleteLink(name=e.host_veth) for e in state.endpoints_of(network.network_id))
        return LinkPlan(state=state.without_network(network.network_id), response={},
                    teardown=(*veths, DeleteLink(name=network.bridge)))

    def create_endpoint(self, state: DriverState, request: Mapping[str, JSON]) -> LinkPlan:
        network = _network(state, request)
        endpoint_id = _id(request, "EndpointID")
        if endpoint_id in state.endpoints:
            raise Refusal(f"ipamx-spy: endpoint {_short(endpoint_id)} already exists")
        iface = _interface(request)
        asked_mac = _text(iface, "MacAddress")
        mac = _mac(asked_mac) if asked_mac else generated_mac(endpoint_id)
        fragment = self._fragment(endpoint_id, ("host", "container"), state)
        endpoint = DriverEndpoint(
            endpoint_id=endpoint_id, network_id=network.network_id,
            host_veth=self.naming.link_name("host", fragment),
            container_veth=self.naming.link_name("container", fragment), mac=mac,
            address=_text(iface, "Address"), address6=_text(iface, "AddressIPv6"))
        # Only a field dockerd left empty may be filled in: it refuses any other (3.6).
        response = {"Interface": None if asked_mac else {"MacAddress": mac}}
        return LinkPlan(state=state.with_endpoint(endpoint), response=response,
                    setup=(self._add_veth(endpoint, network),))

    def delete_endpoint(self, state: DriverState, request: Mapping[str, JSON]) -> LinkPlan:
        endpoint = _endpoint(state, request)
        return LinkPlan(state=state.without_endpoint(endpoint.endpoint_id), response={},
                    teardown=(DeleteLink(name=endpoint.host_veth),))

    def endpoint_oper_info(self, state: DriverState, request: Mapping[str, JSON]) -> LinkPlan:
        endpoint = _endpoint(state, request)
        network = state.networks[endpoint.network_id]
        value = {"bridge": network.bridge, "host_veth": endpoint.host_veth,
                 "container_veth": endpoint.container_veth, "mac_address": endpoint.mac,
                 "sandbox": endpoint.sandbox}
        return LinkPlan(state=state, response={"Value": value})

    def join(self, state: DriverState, request: Mapping[str, JSON]) -> LinkPlan:
        endpoint = _endpoint(state, request)
        network = state.networks[endpoint.network_id]
        joined = replace(endpoint, sandbox=_text(request, "SandboxKey"))
        response = {
            "InterfaceName": {"SrcName": endpoint.container_veth, "DstPrefix": CONTAINER_PREFIX},
            "Gateway": network.gateway_for(endpoint.address, network.ipv4),
            "GatewayIPv6": network.gateway_for(endpoint.address6, network.ipv6),
            "DisableGatewayService": False,
        }
        return LinkPlan(state=state.with_endpoint(joined), response=response)

    def leave(self, state: DriverState, request: Mapping[str, JSON]) -> LinkPlan:
        endpoint = _endpoint(state, request)
        return LinkPlan(state=state.with_endpoint(replace(endpoint, sandbox="")), response={})

    def _fragment(self, object_id: str, roles: tuple[str, ...], state: DriverState) -> str:
        try:
            return self.naming.fragment_for(object_id, roles, state.link_names())
        except ValueError as exc:
            raise Refusal(f"ipamx-spy: {exc}") from exc

    def _add_veth(self, endpoint: DriverEndpoint, network: Network) -> AddVeth:
        return AddVeth(host=endpoint.host_veth, container=endpoint.container_veth,
                       bridge=network.bridge, mac=endpoint.mac,
                       host_marker=self.naming.marker("host", endpoint.endpoint_id),
                       container_marker=self.naming.marker("container", endpoint.endpoint_id))


Handler = Callable[[Driver, DriverState, Mapping[str, JSON]], LinkPlan]


def _fixed(answer: JSON) -> Handler:
    def plan(_driver: Driver, state: DriverState, _request: Mapping[str, JSON]) -> LinkPlan:
        return LinkPlan(state=state, response=answer)

    return plan


_PLANNED: dict[dockerd.Endpoint, Handler] = {
    dockerd.Endpoint.CREATE_NETWORK: Driver.create_network,
    dockerd.Endpoint.DELETE_NETWORK: Driver.delete_network,
    dockerd.Endpoint.CREATE_ENDPOINT: Driver.create_endpoint,
    dockerd.Endpoint.DELETE_ENDPOINT: Driver.delete_endpoint,
    dockerd.Endpoint.ENDPOINT_OPER_INFO: Driver.endpoint_oper_info,
    dockerd.Endpoint.JOIN: Driver.join,
    dockerd.Endpoint.LEAVE: Driver.leave,
}

INTERFACE = dockerd.Interface.NETWORK
HANDLERS: dict[dockerd.Endpoint, Handler] = {
    **{call: _fixed(answer) for call, answer in FIXED_ANSWERS.items()}, **_PLANNED}
"""One handler per ``NetworkDriver.*`` row (``app.check_table`` holds the service to it)."""


# -- reading requests (Go decodes keys case-insensitively, at every depth) -------------------


def _text(mapping: Mapping[str, JSON], key: str) -> str:
    value = field_value(mapping, key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Refusal(f"ipamx-spy: {key} must be a string, dockerd sent {value!r}")
    return value


def _id(request: Mapping[str, JSON], key: str) -> str:
    value = _text(request, key)
    if not value:
        raise Refusal(f"ipamx-spy: the request has no {key}")
    return value


def _short(ident: str) -> str:
    return ident[:12]


def _network(state: DriverState, request: Mapping[str, JSON]) -> Network:
    network_id = _id(request, "NetworkID")
    network = state.networks.get(network_id)
    if network is None:
        raise Refusal(f"ipamx-spy: unknown network {_short(network_id)} (this driver never "
                      "created it, or has already deleted it)")
    return network


def _endpoint(state: DriverState, request: Mapping[str, JSON]) -> DriverEndpoint:
    network_id, endpoint_id = _id(request, "NetworkID"), _id(request, "EndpointID")
    endpoint = state.endpoints.get(endpoint_id)
    if endpoint is None:
        raise Refusal(f"ipamx-spy: unknown endpoint {_short(endpoint_id)} on network "
                      f"{_short(network_id)} (never created here, or already deleted)")
    if endpoint.network_id != network_id:
        raise Refusal(f"ipamx-spy: endpoint {_short(endpoint_id)} belongs to network "
                      f"{_short(endpoint.network_id)}, not {_short(network_id)}")
    return endpoint


def _interface(request: Mapping[str, JSON]) -> Mapping[str, JSON]:
    iface = field_value(request, "Interface")
    if iface is None:
        return {}
    if not isinstance(iface, Mapping):
        raise Refusal(f"ipamx-spy: Interface must be an object, dockerd sent {iface!r}")
    for key in ("Address", "AddressIPv6"):
        value = _text(iface, key)
        if value and not _is_cidr(value):
            raise Refusal(f"ipamx-spy: Interface.{key} {value!r} is not an address/length")
    return iface


def _mac(text: str) -> str:
    try:
        return normal_mac(text)
    except ValueError as exc:
        raise Refusal(f"ipamx-spy: Interface.MacAddress {exc}") from exc


def _subnets(request: Mapping[str, JSON], key: str, version: int) -> tuple[Subnet, ...]:
    entries = field_value(request, key)
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise Refusal(f"ipamx-spy: {key} must be a list, dockerd sent {entries!r}")
    return tuple(_subnet(entry, f"{key}[{i}]", version) for i, entry in enumerate(entries))


def _subnet(entry: JSON, where: str, version: int) -> Subnet:
    if not isinstance(entry, Mapping):
        raise Refusal(f"ipamx-spy: {where} must be an object, dockerd sent {entry!r}")
    pool, gateway = _text(entry, "Pool"), _text(entry, "Gateway")
    network = parse_cidr(pool)
    if network is None:
        raise Refusal(f"ipamx-spy: {where}.Pool {pool!r} is not a CIDR")
    if network.version != version:
        raise Refusal(f"ipamx-spy: {where}.Pool {pool} is not an IPv{version} pool")
    if gateway and not (_is_cidr(gateway) and Subnet(pool=pool).contains(gateway)):
        raise Refusal(f"ipamx-spy: {where}.Gateway {gateway!r} is not an address/length "
                      f"inside {pool}")
    return Subnet(pool=pool, gateway=gateway)


def _is_cidr(text: str) -> bool:
    """Whether Go's ``net.ParseCIDR`` reads ``text`` (what libnetwork's driver API does)."""
    return parse_cidr(text) is not None
