"""Container networking: endpoints, sandboxes, joins and leaves (PROTOCOL.md 5.2 to 5.5).

The order of calls follows dockerd 20.10.24 as captured: before an endpoint is created in a
sandbox that has endpoints, EndpointOperInfo goes to each of them (the port-map probe of
``buildCreateEndpointOptions``); after a join, EndpointOperInfo goes to the new endpoint (until
28.x, moby c9a763ecc9; 28.5.2 as captured does not) and then to every endpoint of the sandbox,
in heap order; none at all while the sandbox has a
docker_gwbridge endpoint (dockerd then asks the bridge driver instead). Program and Revoke
follow ``sbJoin``/``sbLeave`` (v20.10 to v27) or, in v29, the remote shim's on-change rule.
"""

from __future__ import annotations

import base64

from ipamx_spy.dockerd.endpoints import Endpoint
from ipamx_spy.dockerd.gojson import Struct
from ipamx_spy.dockerd.goparse import parse_cidr, parse_ip, parse_mac
from ipamx_spy.dockerd.options import ENDPOINT_NAME_OPTION, MAC_OPTION

from .core import Core, DaemonError, Flow
from .model import GWBRIDGE, Attachment, Container, EmulatedEndpoint, EmulatedNetwork, Sandbox

EXPOSED = "com.docker.network.endpoint.exposedports"
PORTMAP = "com.docker.network.portmap"
DNS = "com.docker.network.endpoint.dnsservers"
NO_PROXY_6TO4 = "com.docker.network.driver.private.no_proxy_6to4"
_GWBRIDGE_NET = EmulatedNetwork(id="", name=GWBRIDGE, driver="bridge", ipam_driver="default",
                                remote_driver=False, remote_ipam=False)


def labels(container: Container) -> dict[str, object]:
    """The sandbox labels dockerd sends with Join and ProgramExternalConnectivity."""
    exposed = [Struct(Proto=p.proto, Port=p.port) for p in container.ports]
    portmap = [Struct(Proto=p.proto, IP="", Port=p.port, HostIP=p.host_ip, HostPort=p.host_port,
                      HostPortEnd=p.host_port_end) for p in container.ports if p.published]
    return {EXPOSED: exposed, PORTMAP: portmap}


class ContainerOps(Core):
    """Endpoint life cycle for the container commands."""

    # -- EndpointOperInfo ------------------------------------------------------------------

    def oper_info(self, sb: Sandbox, endpoints: list[EmulatedEndpoint]) -> Flow[None]:
        if sb.gwnet_endpoint() is not None:
            return
        for ep in endpoints:
            if ep.remote:
                yield from self.call(ep.network.driver, Endpoint.ENDPOINT_OPER_INFO,
                                     Struct(NetworkID=ep.network.id, EndpointID=ep.id))

    # -- connect ---------------------------------------------------------------------------

    def connect_endpoint(self, ctr: Container, att: Attachment) -> Flow[None]:
        """``connectToNetwork``: create the endpoint, join it, then the EndpointOperInfo round."""
        net = self._network(att.network)
        if not net.takes_endpoints:
            return
        self._check_preferred(net, att)
        sb = ctr.sandbox
        if sb is not None and not (self.version.internal_skips_oper_info and net.internal):
            yield from self.oper_info(sb, sb.ordered())
        options = self._endpoint_options(ctr, net, att, sb)
        ipam = yield from self.ipam_driver(net.ipam_driver)
        ep = EmulatedEndpoint(id="" if net.remote_driver else self.local.take("endpoint"),
                              name=ctr.name, network=net)
        user_mac = parse_mac(ctr.mac) if net.name == ctr.run_network and ctr.mac else None
        requires_mac = ipam is not None and ipam.requires_mac
        ep.mac = user_mac or (self.ids.take("mac") if requires_mac else "")
        ipam_options: dict[str, str] | None = {MAC_OPTION: ep.mac} if requires_mac else None
        if self.version.endpoint_name_option:
            ipam_options = {**(ipam_options or {}), ENDPOINT_NAME_OPTION: ctr.name}
        yield from self._assign(net, ep, att, ipam_options)
        try:
            yield from self._create_endpoint(ep, options)
        except DaemonError:
            yield from self._release_addresses(ep)
            raise
        if ctr.sandbox is None:
            ctr.sandbox = Sandbox()
        yield from self._join(ctr, ctr.sandbox, ep)
        net.endpoints += 1
        first = [ep] if self.version.oper_info_for_joined else []
        yield from self.oper_info(ctr.sandbox, [*first, *ctr.sandbox.ordered()])

    def _network(self, name: str) -> EmulatedNetwork:
        net = self.networks.get(name)
        if net is None:
            raise DaemonError(f"network {name} not found")
        return net

    def _check_preferred(self, net: EmulatedNetwork, att: Attachment) -> None:
        for family, wanted in ((4, att.ip), (6, att.ip6)):
            if not wanted:
                continue
            if not any(c.subnet for c in net.configs[family]):
                raise DaemonError("user specified IP address is supported only when connecting "
                                  "to networks with user configured subnets")
            ip = parse_ip(wanted)
            if ip is None:
                raise DaemonError(f"invalid IPv{family} address: {wanted}")
            inside = any(ip in parse_cidr(c.subnet).network  # type: ignore[union-attr]
                         for c in net.configs[family] if parse_cidr(c.subnet) is not None)
            if not inside and self.version.daemon_checks_ip:
                raise DaemonError(self.version.ip_outside.format(ip=wanted))

    def _endpoint_options(self, ctr: Container, net: EmulatedNetwork, att: Attachment,
                          sb: Sandbox | None) -> dict[str, object]:
        """``buildCreateEndpointOptions``: the generic options of CreateEndpoint."""
        options: dict[str, object] = dict(att.driver_opts)
        mac = parse_mac(ctr.mac) if ctr.mac else None
        if net.name == ctr.run_network and mac is not None:
            options[MAC_OPTION] = base64.b64encode(bytes.fromhex(mac.replace(":", ""))).decode()
        if ctr.dns and not net.internal:
            options[DNS] = list(ctr.dns)
        if net.internal or (sb is not None and self._sandbox_reports_ports(ctr, sb)):
            return options
        return {**options, **labels(ctr)}

    @staticmethod
    def _sandbox_reports_ports(ctr: Container, sb: Sandbox) -> bool:
        """Only the bridge driver reports port data back; remote drivers never do."""
        return bool(ctr.ports) and any(
            ep.gwnet or ep.network.driver == "bridge" for ep in sb.endpoints)

    def _assign(self, net: EmulatedNetwork, ep: EmulatedEndpoint, att: Attachment,
                options: dict[str, str] | None) -> Flow[None]:
        if net.infos[4]:
            ep.addr4, ep.pool4 = yield from self._assign_family(net, 4, att.ip, options)
        if net.ipv6 and net.infos[6]:
            ep.addr6, ep.pool6 = yield from self._assign_family(net, 6, att.ip6, options)

    def _assign_family(self, net: EmulatedNetwork, family: int, wanted: str,
                       options: dict[str, str] | None) -> Flow[tuple[str, str]]:
        preferred = parse_ip(wanted)
        for info in net.infos[family]:
            if preferred is not None and (preferred.version != info.network.version
                                          or preferred not in info.network):
                continue
            answer = yield from self.ipam(net, Endpoint.REQUEST_ADDRESS, Struct(
                PoolID=info.pool_id, Address="" if preferred is None else str(preferred),
                Options=options))
            if answer.error is not None:
                if not net.remote_ipam and "available" in answer.error and preferred is None:
                    continue  # the default IPAM's ErrNoAvailableIPs: try the next pool
                raise DaemonError(answer.error)
            address = answer.value.get("Address")
            if not address:
                raise DaemonError(self.version.no_address)
            parsed = parse_cidr(address)
            if parsed is None:
                raise DaemonError(f"invalid CIDR address: {address}")
            return f"{parsed.ip}/{parsed.network.prefixlen}", info.pool_id
        if preferred is not None:
            raise DaemonError(self.version.ip_outside.format(ip=wanted))
        raise DaemonError(f"no available IPv{family} addresses on this network's address "
                          f"pools: {net.name} ({net.id})")

    def _create_endpoint(self, ep: EmulatedEndpoint, options: dict[str, object]) -> Flow[None]:
        net = ep.network
        if not net.remote_driver:
            return
        yield from self.driver(net.driver)  # activates the driver plugin if this lifetime has not
        ep.id = self.ids.take("endpoint")  # on the wire from here on
        answer = yield from self.call(net.driver, Endpoint.CREATE_ENDPOINT, Struct(
            NetworkID=net.id, EndpointID=ep.id,
            Interface=Struct(Address=ep.addr4, AddressIPv6=ep.addr6, MacAddress=ep.mac),
            Options=options))
        prefix = (f"{self.version.container_error_prefix}failed to create endpoint {ep.name} "
                  f"on network {net.name}: ")
        if answer.error is not None:
            raise DaemonError(prefix + answer.error)
        iface = answer.value.get("Interface")
        if isinstance(iface, dict):
            problem = yield from self._apply_interface(ep, iface)
            if problem:
                raise DaemonError(prefix + problem)

    def _apply_interface(self, ep: EmulatedEndpoint, iface: dict[str, object]) -> Flow[str | None]:
        """The remote driver's answer may only fill fields dockerd left empty."""
        mac, addr4, addr6 = (str(iface.get(k) or "") for k in
                             ("MacAddress", "Address", "AddressIPv6"))
        if mac and parse_mac(mac) is None:
            return f"address {mac}: invalid MAC address"
        for value in (addr4, addr6):
            if value and parse_cidr(value) is None:
                return f"invalid CIDR address: {value}"
        checks = (("MacAddress", mac, ep.mac, "driver modified interface MAC address",
                   "endpoint interface MAC address present ({old}). Cannot be modified with "
                   "{new}."),
                  ("Address", addr4, ep.addr4, "driver modified interface address",
                   "endpoint interface IP present ({old}). Cannot be modified with ({new})."),
                  ("AddressIPv6", addr6, ep.addr6, "driver modified interface ipv6 address",
                   "endpoint interface IPv6 present ({old}). Cannot be modified with ({new})."))
        for name, new, old, what, detail in checks:
            if not new:
                continue
            if old:
                yield from self.call(ep.network.driver, Endpoint.DELETE_ENDPOINT,
                                     Struct(NetworkID=ep.network.id, EndpointID=ep.id))
                return f"{what}: {detail.format(old=old, new=new)}; rolled back"
            setattr(ep, {"MacAddress": "mac", "Address": "addr4", "AddressIPv6": "addr6"}[name],
                    new)
        return None

    # -- join ------------------------------------------------------------------------------

    def _join(self, ctr: Container, sb: Sandbox, ep: EmulatedEndpoint) -> Flow[None]:
        try:
            yield from self._driver_join(ctr, sb, ep)
        except DaemonError:
            yield from self.delete_endpoint(ep, counted=False)
            raise
        ep.joined = True
        extended = sb.gateway_endpoint()
        sb.push(ep)
        if sb.need_default_gw(self.version.ipv6_gateway_counts) and sb.gwnet_endpoint() is None:
            self._setup_gwbridge(sb, ep.name)
            return
        try:
            if self.version.program_on_change:
                yield from self._update_gateways(ctr, sb)
            elif sb.gateway_endpoint() is not extended:
                yield from self._move_connectivity(ctr, sb, extended, ep)
        except DaemonError:
            sb.remove(ep)
            if ep.remote:
                yield from self.call(ep.network.driver, Endpoint.LEAVE,
                                     Struct(NetworkID=ep.network.id, EndpointID=ep.id))
            yield from self.delete_endpoint(ep, counted=False)
            raise
        if not sb.need_default_gw(self.version.ipv6_gateway_counts):
            self._clear_gwbridge(sb)

    def _driver_join(self, ctr: Container, sb: Sandbox, ep: EmulatedEndpoint) -> Flow[None]:
        net = ep.network
        if not net.remote_driver:
            self._builtin_join(ep)
            return
        if not sb.key:
            sb.key = self.ids.take("sandbox")
        answer = yield from self.must(net.driver, Endpoint.JOIN, Struct(
            NetworkID=net.id, EndpointID=ep.id, SandboxKey=sb.key, Options=labels(ctr)))
        for field_name, attr in (("Gateway", "gw4"), ("GatewayIPv6", "gw6")):
            value = str(answer.value.get(field_name) or "")
            if value and parse_ip(value) is None:
                raise DaemonError(f'unable to parse {field_name} "{value}"')
            setattr(ep, attr, value)
        for route in answer.value.get("StaticRoutes") or []:
            destination = parse_cidr(route.get("Destination")) if isinstance(route, dict) \
                else None
            if destination is None:
                raise DaemonError(f"invalid CIDR address: {route}")
            if destination.network.prefixlen == 0:
                setattr(ep, f"default_route{destination.version}", True)
        ep.disable_gw_service = bool(answer.value.get("DisableGatewayService"))

    @staticmethod
    def _builtin_join(ep: EmulatedEndpoint) -> None:
        for family, attr in ((4, "gw4"), (6, "gw6")):
            infos = ep.network.infos[family]
            gateway = parse_cidr(infos[0].gateway) if infos and infos[0].gateway else None
            if gateway is not None:
                setattr(ep, attr, str(gateway.ip))

    def _setup_gwbridge(self, sb: Sandbox, name: str) -> None:
        if sb.gwnet_endpoint() is None:
            sb.push(EmulatedEndpoint(id=self.local.take("endpoint"), name=f"gateway_{name}",
                                     network=_GWBRIDGE_NET, gwnet=True, gw4="172.18.0.1",
                                     joined=True))

    @staticmethod
    def _clear_gwbridge(sb: Sandbox) -> None:
        gateway = sb.gwnet_endpoint()
        if gateway is not None:
            sb.remove(gateway)

    def _program(self, ctr: Container, ep: EmulatedEndpoint,
                 options: dict[str, object]) -> Flow[None]:
        if not ep.remote:
            return
        answer = yield from self.call(ep.network.driver,
                                      Endpoint.PROGRAM_EXTERNAL_CONNECTIVITY,
                                      Struct(NetworkID=ep.network.id, EndpointID=ep.id,
                                             Options=options))
        if answer.error is not None:
            raise DaemonError(f"driver failed programming external connectivity on endpoint "
                              f"{ep.name} ({ep.id}): {answer.error}")

    def _revoke(self, ep: EmulatedEndpoint) -> Flow[None]:
        if ep.remote:
            yield from self.call(ep.network.driver, Endpoint.REVOKE_EXTERNAL_CONNECTIVITY,
                                 Struct(NetworkID=ep.network.id, EndpointID=ep.id))

    def _move_connectivity(self, ctr: Container, sb: Sandbox, previous: EmulatedEndpoint | None,
                           ep: EmulatedEndpoint) -> Flow[None]:
        """v20.10 to v27: the new gateway endpoint takes over from the previous one."""
        if previous is not None:
            yield from self._revoke(previous)
        if not ep.internal:
            yield from self._program(ctr, ep, self._program_options(ctr, sb))

    def _program_options(self, ctr: Container, sb: Sandbox) -> dict[str, object]:
        """ProgramExternalConnectivity's options: the container's labels, and on 28 always
        ``no_proxy_6to4`` (true when another endpoint is the IPv6 gateway), after a join and
        after a leave alike (28.5.2's captures connect-order and driver-gateway)."""
        options = labels(ctr)
        if self.version.program_no_proxy_6to4:
            gw4, gw6 = self._gateways(sb)
            options[NO_PROXY_6TO4] = gw4 is not None and gw6 is not None and gw4 is not gw6
        return options

    @staticmethod
    def _gateways(sb: Sandbox) -> tuple[EmulatedEndpoint | None, EmulatedEndpoint | None]:
        """``getGatewayEndpoint``: the first endpoint with an IPv4, and with an IPv6, gateway."""
        ordered = [ep for ep in sb.ordered() if ep.network.takes_endpoints and not ep.gwnet]
        gw4 = next((ep for ep in ordered if ep.gw4 or ep.default_route4), None)
        gw6 = next((ep for ep in ordered if ep.gw6 or ep.default_route6), None)
        return gw4, gw6

    def _update_gateways(self, ctr: Container, sb: Sandbox) -> Flow[None]:
        """v29: the remote shim sends Program/Revoke only when an endpoint's role changes."""
        ordered = [ep for ep in sb.ordered() if ep.network.takes_endpoints and not ep.gwnet]
        gw4, gw6 = self._gateways(sb)
        for ep in ordered:
            if ep.is_gateway and ep not in (gw4, gw6):
                ep.is_gateway = False
                yield from self._revoke(ep)
        for ep in ordered:
            if not ep.is_gateway and ep in (gw4, gw6):
                ep.is_gateway = True
                options = labels(ctr)
                if gw6 is not None and gw6 is not ep:
                    options[NO_PROXY_6TO4] = True
                yield from self._program(ctr, ep, options)

    # -- leave and delete ------------------------------------------------------------------

    def leave(self, ctr: Container, sb: Sandbox, ep: EmulatedEndpoint, *,
              in_delete: bool) -> Flow[None]:
        """``sbLeave``: errors are only logged by dockerd."""
        moving = sb.gateway_endpoint() is ep
        revoke = ep.is_gateway if self.version.program_on_change else moving
        if ep.remote:
            if revoke:
                yield from self._revoke(ep)
                ep.is_gateway = False
            yield from self.call(ep.network.driver, Endpoint.LEAVE,
                                 Struct(NetworkID=ep.network.id, EndpointID=ep.id))
        sb.remove(ep)
        counts = self.version.ipv6_gateway_counts
        if not in_delete and sb.need_default_gw(counts):
            self._setup_gwbridge(sb, ep.name)
            return
        try:
            if self.version.program_on_change:
                yield from self._update_gateways(ctr, sb)
            elif moving and sb.gateway_endpoint() is not None:
                yield from self._program(ctr, sb.gateway_endpoint(),  # type: ignore[arg-type]
                                         self._program_options(ctr, sb))
        except DaemonError:
            pass
        if not sb.need_default_gw(counts):
            self._clear_gwbridge(sb)

    def delete_endpoint(self, ep: EmulatedEndpoint, *, counted: bool = True) -> Flow[None]:
        """``ep.Delete``: DeleteEndpoint, then the addresses go back (errors logged)."""
        if ep.remote:
            yield from self.call(ep.network.driver, Endpoint.DELETE_ENDPOINT,
                                 Struct(NetworkID=ep.network.id, EndpointID=ep.id))
        yield from self._release_addresses(ep)
        if counted:
            ep.network.endpoints -= 1

    def _release_addresses(self, ep: EmulatedEndpoint) -> Flow[None]:
        for cidr, pool_id in ((ep.addr4, ep.pool4), (ep.addr6, ep.pool6)):
            parsed = parse_cidr(cidr)
            if parsed is not None and pool_id:
                yield from self.ipam(ep.network, Endpoint.RELEASE_ADDRESS,
                                     Struct(PoolID=pool_id, Address=str(parsed.ip)))

    def release_network(self, ctr: Container) -> Flow[None]:
        """Sandbox delete (stop, exit, failed start): leave and delete every endpoint."""
        sb = ctr.sandbox
        if sb is None:
            return
        for ep in sb.ordered():
            if ep.gwnet:
                continue
            yield from self.leave(ctr, sb, ep, in_delete=True)
            yield from self.delete_endpoint(ep)
        ctr.sandbox = None

    def disconnect(self, ctr: Container, net: EmulatedNetwork) -> Flow[None]:
        sb = ctr.sandbox
        ep = None if sb is None else next(
            (e for e in sb.endpoints if e.network is net and not e.gwnet), None)
        if sb is None or ep is None:
            return
        yield from self.leave(ctr, sb, ep, in_delete=False)
        yield from self.oper_info(sb, sb.ordered())
        yield from self.delete_endpoint(ep)
