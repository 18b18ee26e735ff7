"""The endpoint catalogue: every Plugin.*, IpamDriver.* and NetworkDriver.* call in one table.

The live view, the validator, replay, the exports and the dockerd emulator all read this table
(PROTOCOL.md sections 1.5, 2 and 3). Each row says what the call is for in plain words, which
fields travel in each direction and with which type, which error field a 200 answer uses, and
which response values the plugin is free to choose (replay compares those for validity, not
equality).

Field types are a small vocabulary that ``ipamx_spy.validate`` checks:

``str`` ``bool`` ``int`` ``strlist`` (list of strings), ``strmap`` (object of strings),
``object``, ``list``, ``any``, ``cidr`` (a CIDR, never empty), ``cidr?`` (a CIDR or ``""``),
``ip?`` (a plain IP or ``""``), ``scope`` (``"local"`` or ``"global"``), ``scope?`` (also ``""``).
A type ending in ``|null`` also accepts JSON ``null``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = Any
Explain = Callable[[Mapping[str, JSON]], str]
Judge = Callable[[Mapping[str, JSON], Mapping[str, JSON]], str]

GATEWAY_OPTION = "RequestAddressType"
GATEWAY_LABEL = "com.docker.network.gateway"
SERIAL_OPTION = "com.docker.network.ipam.serial"
MAC_OPTION = "com.docker.network.endpoint.macaddress"
ENDPOINT_NAME_OPTION = "com.docker.network.endpoint.name"


@dataclass(frozen=True, kw_only=True)
class Field:
    """One JSON key of a request or response body."""

    name: str
    type: str
    required: bool = True


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """One row of the catalogue."""

    name: str
    summary: str
    request: tuple[Field, ...] = ()
    response: tuple[Field, ...] = ()
    explain_request: Explain = field(default=lambda body: "")
    explain_response: Judge = field(default=lambda request, response: "")
    chosen: Callable[[Mapping[str, JSON]], tuple[str, ...]] = field(default=lambda request: ())
    errors_ignored: bool = False
    tolerates_404: bool = False
    extension: bool = False

    @property
    def interface(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def method(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def path(self) -> str:
        return "/" + self.name

    @property
    def takes_body(self) -> bool:
        """Whether dockerd sends JSON arguments (False: an empty body with Content-Length: 0)."""
        return bool(self.request)

    @property
    def error_field(self) -> str:
        """The key that carries an error in a 200 answer (PROTOCOL.md 1.3)."""
        return "Error" if self.interface == "IpamDriver" else "Err"


def _s(body: Mapping[str, JSON], key: str) -> str:
    value = body.get(key)
    return "" if value is None else str(value)


def _q(value: object) -> str:
    return f"'{value}'"


def _space_kind(space: str) -> str:
    lowered = space.lower()
    if "global" in lowered:
        return "global"
    if "local" in lowered:
        return "local"
    return "the"


def _family(body: Mapping[str, JSON]) -> str:
    return "IPv6" if body.get("V6") else "IPv4"


def _short(ident: str) -> str:
    return ident[:12] if len(ident) == 64 else ident


# -- Plugin ---------------------------------------------------------------------------------


def _activate_answer(_req: Mapping[str, JSON], resp: Mapping[str, JSON]) -> str:
    implements = resp.get("Implements") or []
    if not implements:
        return "the plugin implements nothing dockerd can use"
    listed = " and ".join(str(i) for i in implements)
    return f"the plugin says it implements {listed}"


# -- IpamDriver -----------------------------------------------------------------------------


def _ipam_caps_answer(_req: Mapping[str, JSON], resp: Mapping[str, JSON]) -> str:
    mac = "needs" if resp.get("RequiresMACAddress") else "does not need"
    replay = (
        "wants its allocations replayed after a daemon restart (it keeps no state of its own)"
        if resp.get("RequiresRequestReplay")
        else "keeps its own state across daemon restarts"
    )
    return f"the allocator {mac} container MAC addresses and {replay}"


def _spaces_answer(_req: Mapping[str, JSON], resp: Mapping[str, JSON]) -> str:
    local = _s(resp, "LocalDefaultAddressSpace")
    global_ = _s(resp, "GlobalDefaultAddressSpace")
    return (
        f"local networks will use address space {_q(local)}, "
        f"swarm-scope networks {_q(global_)}"
    )


def _request_pool_ask(body: Mapping[str, JSON]) -> str:
    space = _s(body, "AddressSpace")
    pool, sub = _s(body, "Pool"), _s(body, "SubPool")
    what = f"the {_q(pool)} pool" if pool else f"any free {_family(body)} pool (dynamic)"
    text = (
        f"received request to reserve an IP address range: {what} "
        f"in {_space_kind(space)} address space {_q(space)}"
    )
    if sub:
        text += f", handing out addresses only from {_q(sub)} (--ip-range)"
    options = body.get("Options") or {}
    if options:
        text += f"; IPAM options {dict(options)}"
    return text


def _request_pool_answer(req: Mapping[str, JSON], resp: Mapping[str, JSON]) -> str:
    pool, pool_id = _q(_s(resp, "Pool")), _q(_s(resp, "PoolID"))
    text = f"the {pool} pool is reserved; the pool identifier is {pool_id}"
    data = resp.get("Data") or {}
    if isinstance(data, Mapping) and data.get(GATEWAY_LABEL):
        text += (
            f"; the plugin names the gateway {_q(data[GATEWAY_LABEL])}, "
            "so dockerd will not ask for one"
        )
    return text


def _request_pool_chosen(req: Mapping[str, JSON]) -> tuple[str, ...]:
    chosen = ["PoolID", "Data"]
    if not req.get("Pool"):
        chosen.append("Pool")
    return tuple(chosen)


def _release_pool_ask(body: Mapping[str, JSON]) -> str:
    pool_id = _q(_s(body, "PoolID"))
    return f"received request to give back the pool {pool_id} (network removed or rolled back)"


def _request_address_ask(body: Mapping[str, JSON]) -> str:
    options = body.get("Options")
    address = _s(body, "Address")
    pool = _q(_s(body, "PoolID"))
    if isinstance(options, Mapping) and options.get(GATEWAY_OPTION) == GATEWAY_LABEL:
        kind = "this is a default gateway request (com.docker.network.gateway)"
    elif options is None:
        kind = "this is a container or --aux-address request"
    else:
        name = options.get(ENDPOINT_NAME_OPTION) if isinstance(options, Mapping) else None
        kind = (f"this is the address of container {_q(name)}" if name
                else "this is a container request")
    want = f"asks for exactly {_q(address)}" if address else "lets the allocator pick"
    text = f"received request for one IP address from pool {pool}; {kind}; dockerd {want}"
    if isinstance(options, Mapping) and options.get(MAC_OPTION):
        text += f"; the container MAC is {_q(options[MAC_OPTION])}"
    if isinstance(options, Mapping) and options.get(SERIAL_OPTION) == "true":
        text += "; round-robin (serial) allocation requested"
    return text


def _request_address_answer(req: Mapping[str, JSON], resp: Mapping[str, JSON]) -> str:
    return f"the allocator answered {_q(_s(resp, 'Address'))}"


def _release_address_ask(body: Mapping[str, JSON]) -> str:
    return (
        f"received request to free {_q(_s(body, 'Address'))} in pool {_q(_s(body, 'PoolID'))} "
        "(container stopped, disconnected, or network removed)"
    )


# -- NetworkDriver --------------------------------------------------------------------------


def _net_caps_answer(_req: Mapping[str, JSON], resp: Mapping[str, JSON]) -> str:
    scope = _s(resp, "Scope") or "(missing)"
    text = f"the driver's data scope is {_q(scope)}"
    if resp.get("ConnectivityScope"):
        text += f", connectivity scope {_q(resp['ConnectivityScope'])}"
    if resp.get("GwAllocChecker"):
        text += "; dockerd will ask GwAllocCheck before reserving gateways"
    return text + _scope_consequence(resp)


def _network_ask(verb: str) -> Explain:
    def explain(body: Mapping[str, JSON]) -> str:
        return f"{verb} network {_short(_s(body, 'NetworkID'))}"

    return explain


def _create_network_ask(body: Mapping[str, JSON]) -> str:
    data = (body.get("IPv4Data") or []) + (body.get("IPv6Data") or [])
    pools = [str(d.get("Pool")) for d in data]
    gateways = [str(d.get("Gateway")) for d in data if d.get("Gateway")]
    aux = [f"{k}={v}" for d in data for k, v in (d.get("AuxAddresses") or {}).items()]
    text = f"create network {_short(_s(body, 'NetworkID'))} on pools {', '.join(pools) or 'none'}"
    if gateways:
        text += f" with gateway {', '.join(gateways)}"
    if aux:
        text += f", aux addresses {', '.join(aux)}"
    options = body.get("Options") or {}
    if isinstance(options, Mapping) and options.get("com.docker.network.enable_ipv6"):
        text += "; IPv6 enabled"
    generic = options.get("com.docker.network.generic") if isinstance(options, Mapping) else None
    if generic:
        text += f"; driver options {dict(generic)}"
    if isinstance(options, Mapping) and options.get("com.docker.network.internal"):
        text += "; internal network (no outside access)"
    return text


def _endpoint_ask(verb: str) -> Explain:
    def explain(body: Mapping[str, JSON]) -> str:
        return (
            f"{verb} endpoint {_short(_s(body, 'EndpointID'))} "
            f"of network {_short(_s(body, 'NetworkID'))}"
        )

    return explain


def _create_endpoint_ask(body: Mapping[str, JSON]) -> str:
    iface = body.get("Interface") or {}
    addresses = [a for a in (iface.get("Address"), iface.get("AddressIPv6")) if a]
    text = _endpoint_ask("create")(body)
    text += f" with address {', '.join(addresses)}" if addresses else " with no address"
    if iface.get("MacAddress"):
        text += f" and MAC {iface['MacAddress']}"
    return text


def _create_endpoint_answer(req: Mapping[str, JSON], resp: Mapping[str, JSON]) -> str:
    iface = resp.get("Interface")
    if not iface:
        return "the driver keeps the interface as dockerd described it"
    asked = req.get("Interface") or {}
    changed = [k for k, v in iface.items() if v and isinstance(asked, Mapping) and asked.get(k)]
    if changed:
        return (f"the driver changes {', '.join(changed)}, which dockerd already set: dockerd "
                "rejects this ('driver modified interface …'), sends DeleteEndpoint and rolls "
                "back")
    filled = ", ".join(f"{k} {v}" for k, v in iface.items() if v)
    return f"the driver fills in {filled}" if filled else "the driver changes nothing"


def _join_ask(body: Mapping[str, JSON]) -> str:
    return (
        f"container sandbox {_q(_s(body, 'SandboxKey'))} joins "
        f"endpoint {_short(_s(body, 'EndpointID'))}"
    )


def _join_answer(_req: Mapping[str, JSON], resp: Mapping[str, JSON]) -> str:
    name = resp.get("InterfaceName") or {}
    parts = []
    if name.get("SrcName"):
        parts.append(
            f"dockerd moves host interface {_q(name['SrcName'])} into the container "
            f"as {name.get('DstPrefix') or 'eth'}N"
        )
    if resp.get("Gateway"):
        parts.append(f"the default gateway is {resp['Gateway']} (this endpoint can become the "
                     "container's gateway endpoint: ProgramExternalConnectivity follows)")
    if resp.get("GatewayIPv6"):
        parts.append(f"the IPv6 default gateway is {resp['GatewayIPv6']}")
    routes = resp.get("StaticRoutes") or []
    if routes:
        parts.append("routes to " + ", ".join(str(r.get("Destination")) for r in routes))
    if resp.get("DisableGatewayService"):
        parts.append("no docker_gwbridge fallback")
    return "; ".join(parts) or "no interface, no gateway: dockerd may add docker_gwbridge"


def _join_chosen(_req: Mapping[str, JSON]) -> tuple[str, ...]:
    return ("InterfaceName.SrcName",)


def _create_endpoint_chosen(_req: Mapping[str, JSON]) -> tuple[str, ...]:
    return ("Interface.MacAddress",)


def _ports(body: Mapping[str, JSON]) -> str:
    options = body.get("Options") or {}
    portmap = options.get("com.docker.network.portmap") if isinstance(options, Mapping) else None
    protocols: dict[object, str] = {6: "tcp", 17: "udp", 132: "sctp"}
    published = [
        f"{p.get('HostPort')}→{p.get('Port')}/{protocols.get(p.get('Proto'), p.get('Proto'))}"
        for p in portmap or [] if isinstance(p, Mapping)]
    return f"; published ports {', '.join(published)}" if published else ""


def _program_ask(body: Mapping[str, JSON]) -> str:
    return (_endpoint_ask("program outside access for")(body)
            + ", which became the container's gateway endpoint (its Join gave a Gateway)"
            + _ports(body))


def _scope_consequence(resp: Mapping[str, JSON]) -> str:
    if resp.get("Scope") == "global":
        return "; global scope: swarm manages its networks (AllocateNetwork)"
    return "; local scope: networks use the local address space, no swarm calls"


def _gw_check_answer(_req: Mapping[str, JSON], resp: Mapping[str, JSON]) -> str:
    skipped = [f for f, key in (("IPv4", "SkipIPv4"), ("IPv6", "SkipIPv6")) if resp.get(key)]
    if not skipped:
        return "dockerd will reserve gateways from the IPAM as usual"
    return f"dockerd will not reserve an {' or '.join(skipped)} gateway from the IPAM"


def _discover_ask(verb: str) -> Explain:
    def explain(body: Mapping[str, JSON]) -> str:
        data = body.get("DiscoveryData") or {}
        kind = body.get("DiscoveryType")
        return f"swarm node {data.get('Address', '?')} {verb} (discovery type {kind})"

    return explain


# -- extension endpoints (ipamx-spy's own, not Docker's) -------------------------------------


def _ext(name: str, summary: str, request: tuple[Field, ...] = ()) -> Endpoint:
    return Endpoint(name=name, summary=summary, request=request, extension=True,
                    explain_request=lambda _body: f"ipamx-spy extension: {summary}")


def _f(name: str, type_: str, required: bool = True) -> Field:
    return Field(name=name, type=type_, required=required)


_NET_EP = (_f("NetworkID", "str"), _f("EndpointID", "str"))
_SANDBOX_OPTIONS = _f("Options", "object|null", required=False)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        name="Plugin.Activate",
        summary="handshake: which APIs the plugin implements",
        response=(_f("Implements", "strlist|null"),),
        explain_request=lambda _b: ("dockerd activates the plugin "
                                    "(once per daemon lifetime per name)"),
        explain_response=_activate_answer,
    ),
    # ---- IPAM
    Endpoint(
        name="IpamDriver.GetCapabilities",
        summary="what the allocator needs from dockerd",
        response=(_f("RequiresMACAddress", "bool", False),
                  _f("RequiresRequestReplay", "bool", False)),
        explain_request=lambda _b: "dockerd asks what the allocator needs (MAC addresses, replay)",
        explain_response=_ipam_caps_answer,
    ),
    Endpoint(
        name="IpamDriver.GetDefaultAddressSpaces",
        summary="names of the local and global address spaces",
        response=(_f("LocalDefaultAddressSpace", "str"), _f("GlobalDefaultAddressSpace", "str")),
        explain_request=lambda _b: "dockerd asks for the names of the default address spaces",
        explain_response=_spaces_answer,
    ),
    Endpoint(
        name="IpamDriver.RequestPool",
        summary="reserve an IP address range (docker network create)",
        request=(
            _f("AddressSpace", "str"), _f("Pool", "cidr?"), _f("SubPool", "cidr?"),
            _f("Options", "strmap|null"), _f("V6", "bool"),
        ),
        response=(_f("PoolID", "str"), _f("Pool", "cidr"), _f("Data", "strmap|null", False)),
        explain_request=_request_pool_ask,
        explain_response=_request_pool_answer,
        chosen=_request_pool_chosen,
    ),
    Endpoint(
        name="IpamDriver.ReleasePool",
        summary="give back an IP address range (docker network rm)",
        request=(_f("PoolID", "str"),),
        explain_request=_release_pool_ask,
        explain_response=lambda _r, _s2: "the pool is released",
        errors_ignored=True,
    ),
    Endpoint(
        name="IpamDriver.RequestAddress",
        summary="reserve one IP address (gateway, aux address or container)",
        request=(_f("PoolID", "str"), _f("Address", "ip?"), _f("Options", "strmap|null")),
        response=(_f("Address", "cidr"), _f("Data", "strmap|null", False)),
        explain_request=_request_address_ask,
        explain_response=_request_address_answer,
        chosen=lambda req: () if req.get("Address") else ("Address",),
    ),
    Endpoint(
        name="IpamDriver.ReleaseAddress",
        summary="free one IP address",
        request=(_f("PoolID", "str"), _f("Address", "ip?")),
        explain_request=_release_address_ask,
        explain_response=lambda _r, _s2: "the address is free again",
        errors_ignored=True,
    ),
    # ---- ipamx-spy's extension endpoints ("Lack of Endpoints")
    _ext("IpamDriver.Leases", "list every allocation with its pool and time"),
    _ext("IpamDriver.Networks", "list pools and their usage"),
    _ext("IpamDriver.Metrics", "Prometheus metrics: calls, errors, pool utilisation"),
    _ext("IpamDriver.Version", "versions of the plugin and its protocol"),
    _ext("IpamDriver.Configuration", "the allocator's configuration"),
    _ext("IpamDriver.Shutdown", "stop the plugin gracefully"),
    # ---- NetworkDriver
    Endpoint(
        name="NetworkDriver.GetCapabilities",
        summary="the driver's scope and options",
        response=(
            _f("Scope", "scope"), _f("ConnectivityScope", "scope?", False),
            _f("GwAllocChecker", "bool", False),
        ),
        explain_request=lambda _b: "dockerd asks the network driver for its scope",
        explain_response=_net_caps_answer,
    ),
    Endpoint(
        name="NetworkDriver.GwAllocCheck",
        summary="may dockerd skip reserving gateways? (v28+)",
        request=(_f("Options", "object|null"),),
        response=(_f("SkipIPv4", "bool", False), _f("SkipIPv6", "bool", False)),
        explain_request=lambda _b: "dockerd asks whether the driver needs IPAM gateways",
        explain_response=_gw_check_answer,
    ),
    Endpoint(
        name="NetworkDriver.CreateNetwork",
        summary="create a network (docker network create)",
        request=(
            _f("NetworkID", "str"), _f("Options", "object|null"),
            _f("IPv4Data", "list|null"), _f("IPv6Data", "list|null"),
        ),
        explain_request=_create_network_ask,
        explain_response=lambda _r, _s2: "the driver created the network",
    ),
    Endpoint(
        name="NetworkDriver.DeleteNetwork",
        summary="delete a network (docker network rm)",
        request=(_f("NetworkID", "str"),),
        explain_request=_network_ask("delete"),
        explain_response=lambda _r, _s2: "the driver deleted the network",
        errors_ignored=True,
    ),
    Endpoint(
        name="NetworkDriver.AllocateNetwork",
        summary="swarm manager: allocate driver state for a network",
        request=(
            _f("NetworkID", "str"), _f("Options", "strmap|null"),
            _f("IPv4Data", "list|null"), _f("IPv6Data", "list|null"),
        ),
        response=(_f("Options", "strmap|null", False),),
        explain_request=_network_ask("swarm manager allocates"),
        explain_response=lambda _r, _s2: ("the returned Options become the network's driver "
                                           "state, passed to every node's CreateNetwork"),
    ),
    Endpoint(
        name="NetworkDriver.FreeNetwork",
        summary="swarm manager: free a network's driver state",
        request=(_f("NetworkID", "str"),),
        explain_request=_network_ask("swarm manager frees"),
    ),
    Endpoint(
        name="NetworkDriver.CreateEndpoint",
        summary="create a container's endpoint (docker run, network connect)",
        request=(*_NET_EP, _f("Interface", "object|null"), _f("Options", "object|null")),
        response=(_f("Interface", "object|null", False),),
        explain_request=_create_endpoint_ask,
        explain_response=_create_endpoint_answer,
        chosen=_create_endpoint_chosen,
    ),
    Endpoint(
        name="NetworkDriver.EndpointOperInfo",
        summary="operational data of an endpoint (effectively unused by dockerd)",
        request=_NET_EP,
        response=(_f("Value", "object|null", False),),
        explain_request=_endpoint_ask("dockerd asks for operational data of"),
        explain_response=lambda _r, resp: (
            f"the driver reports {', '.join(sorted(resp.get('Value') or {})) or 'nothing'}; "
            "dockerd does not use it"),
        chosen=lambda _req: ("Value",),
        errors_ignored=True,
    ),
    Endpoint(
        name="NetworkDriver.DeleteEndpoint",
        summary="delete a container's endpoint",
        request=_NET_EP,
        explain_request=lambda b: _endpoint_ask("delete")(b) + "; the IPAM ReleaseAddress follows",
        errors_ignored=True,
    ),
    Endpoint(
        name="NetworkDriver.Join",
        summary="attach a container's sandbox to an endpoint",
        request=(*_NET_EP, _f("SandboxKey", "str"), _SANDBOX_OPTIONS),
        response=(
            _f("InterfaceName", "object|null", False), _f("Gateway", "ip?", False),
            _f("GatewayIPv6", "ip?", False), _f("StaticRoutes", "list|null", False),
            _f("DisableGatewayService", "bool", False),
        ),
        explain_request=_join_ask,
        explain_response=_join_answer,
        chosen=_join_chosen,
    ),
    Endpoint(
        name="NetworkDriver.Leave",
        summary="detach a container's sandbox from an endpoint",
        request=_NET_EP,
        explain_request=lambda b: (_endpoint_ask("container leaves")(b) + "; dockerd moves the "
                                   "interface back to the host, DeleteEndpoint follows"),
        errors_ignored=True,
    ),
    Endpoint(
        name="NetworkDriver.ProgramExternalConnectivity",
        summary="set up outside access (port mappings) for the gateway endpoint",
        request=(*_NET_EP, _SANDBOX_OPTIONS),
        explain_request=_program_ask,
        tolerates_404=True,
    ),
    Endpoint(
        name="NetworkDriver.RevokeExternalConnectivity",
        summary="remove outside access for an endpoint",
        request=_NET_EP,
        explain_request=lambda b: (_endpoint_ask("revoke outside access for")(b) + ", which "
                                   "stops being the container's gateway endpoint"),
        tolerates_404=True,
    ),
    Endpoint(
        name="NetworkDriver.DiscoverNew",
        summary="swarm: a node appeared",
        request=(_f("DiscoveryType", "int"), _f("DiscoveryData", "object|null")),
        explain_request=_discover_ask("joined"),
        errors_ignored=True,
    ),
    Endpoint(
        name="NetworkDriver.DiscoverDelete",
        summary="swarm: a node went away",
        request=(_f("DiscoveryType", "int"), _f("DiscoveryData", "object|null")),
        explain_request=_discover_ask("left"),
        errors_ignored=True,
    ),
)

BY_NAME: dict[str, Endpoint] = {e.name: e for e in ENDPOINTS}


def lookup(target: str) -> Endpoint | None:
    """The catalogue row for a request target such as ``/IpamDriver.RequestPool`` (or None)."""
    name = target.split("?", 1)[0].lstrip("/")
    return BY_NAME.get(name)


def endpoint_name(target: str) -> str:
    """The endpoint name of a request target, known or not (``/Foo.Bar`` -> ``Foo.Bar``)."""
    return target.split("?", 1)[0].lstrip("/") or "/"


def error_message(endpoint: str, status: int, body: JSON) -> str | None:
    """The error dockerd would see in an answer, or None when dockerd takes it as success.

    Mirrors PROTOCOL.md 1.3: only 200 succeeds; non-200 reads ``Err``; a 200 reads ``Error``
    for IPAM calls and ``Err`` for network calls. ``body`` is the decoded JSON (or raw text).
    """
    row = BY_NAME.get(endpoint)
    if status != 200:
        if row is not None and row.tolerates_404 and status == 404:
            return None
        if isinstance(body, Mapping) and body.get("Err"):
            return str(body["Err"])
        return body if isinstance(body, str) else ("" if body is None else str(body))
    if isinstance(body, Mapping):
        key = row.error_field if row is not None else "Err"
        if body.get(key):
            return f"remote: {body[key]}"
    return None


def explain(endpoint: str, request: JSON, response: JSON | None = None, status: int = 200) -> str:
    """One sentence in plain words about an exchange (request, and the answer if given)."""
    row = BY_NAME.get(endpoint)
    if row is None:
        return f"unknown endpoint {endpoint}: not part of the libnetwork plugin protocol"
    request_map = request if isinstance(request, Mapping) else {}
    try:
        text = row.explain_request(request_map) or row.summary
    except (AttributeError, TypeError, KeyError, ValueError, IndexError):
        text = f"{row.summary} (the request does not have the protocol's shape)"
    if response is None:
        return text
    err = error_message(endpoint, status, response)
    if err is not None:
        consequence = " (dockerd only logs it)" if row.errors_ignored else ""
        return f"{text}; the plugin refused: {err}{consequence}"
    response_map = response if isinstance(response, Mapping) else {}
    try:
        answer = row.explain_response(request_map, response_map)
    except (AttributeError, TypeError, KeyError, ValueError, IndexError):
        answer = "the answer does not have the protocol's shape"
    return f"{text}; {answer}" if answer else text


def is_cidr(value: object) -> bool:
    """True for strings such as ``10.1.2.3/24`` (host bits allowed, as Go's ParseCIDR)."""
    if not isinstance(value, str) or "/" not in value:
        return False
    try:
        ipaddress.ip_interface(value)
    except ValueError:
        return False
    return True
