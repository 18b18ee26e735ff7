"""Plain-words sentences about requests and answers, one small function per endpoint.

``endpoints.py`` puts them in the rows; nothing else calls them directly. A request sentence
takes the request body; an answer sentence takes the request and the decoded answer (keys
already renamed to Go field names by ``gojson``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .options import ENDPOINT_NAME_OPTION, GATEWAY_LABEL, GATEWAY_OPTION, MAC_OPTION, SERIAL_OPTION
from .scopes import Scope, space_scope

JSON = Any
Explain = Callable[[Mapping[str, JSON]], str]
Judge = Callable[[Mapping[str, JSON], Mapping[str, JSON]], str]


def _s(body: Mapping[str, JSON], key: str) -> str:
    value = body.get(key)
    return "" if value is None else str(value)


def _q(value: object) -> str:
    return f"'{value}'"


def _space_kind(space: str) -> str:
    scope = space_scope(space)
    return "the" if scope is None else str(scope)


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
    mac = "needs" if resp.get("RequiresMACAddress") is True else "does not need"
    replay = (
        "wants its allocations replayed after a daemon restart (it keeps no state of its own)"
        if resp.get("RequiresRequestReplay") is True
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
    if resp.get("Scope") == Scope.GLOBAL:
        return ("; global scope: on a swarm manager its networks are swarm's (AllocateNetwork), "
                "which takes them only from a managed plugin")
    return "; local scope: networks use the local address space, no swarm allocation"


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


