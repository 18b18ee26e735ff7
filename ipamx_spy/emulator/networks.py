"""``docker network create`` and ``docker network rm``, and the IPAM replay after a daemon
restart (PROTOCOL.md 5.1, 5.6, 5.7; rollbacks as libnetwork's deferred releases do them)."""

from __future__ import annotations

import ipaddress

from ipamx_spy.dockerd import Endpoint
from ipamx_spy.dockerd.gojson import Struct
from ipamx_spy.dockerd.goparse import parse_cidr, parse_ip
from ipamx_spy.dockerd.options import GATEWAY_LABEL, GATEWAY_OPTION

from ..dockerd.scopes import Scope
from .core import Core, DaemonError, Flow
from .model import EmulatedNetwork, PluginState, PoolInfo, SubnetConfig
from .scenario import NetworkCreate

PREDEFINED = ("bridge", "host", "none")


def cidr_text(text: object) -> str | None:
    """A CIDR as dockerd prints the ``*net.IPNet`` it parsed (host bits kept), or None."""
    parsed = parse_cidr(text)
    return None if parsed is None else f"{parsed.ip}/{parsed.network.prefixlen}"


def consolidate(cmd: NetworkCreate) -> list[SubnetConfig]:
    """The docker CLI's ``consolidateIpam``: each range, gateway and aux address joins the
    subnet that contains it. Raises DaemonError with the CLI's message."""
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for subnet in cmd.subnets:
        parsed = parse_cidr(subnet)
        if parsed is None:
            raise DaemonError(f"invalid CIDR address: {subnet}")
        if any(parsed.network.overlaps(other) for other in nets):
            raise DaemonError("multiple overlapping subnet configuration is not supported")
        nets.append(parsed.network)
    if len(cmd.subnets) < len(cmd.ranges) or len(cmd.subnets) < len(cmd.gateways):
        raise DaemonError("every ip-range or gateway must have a corresponding subnet")
    configs = [SubnetConfig(subnet=s) for s in cmd.subnets]

    def home(value: str, what: str) -> int:
        ip = parse_cidr(value) if "/" in value else parse_ip(value)
        address = ip.ip if isinstance(ip, ipaddress.IPv4Interface | ipaddress.IPv6Interface) \
            else ip
        for index, net in enumerate(nets):
            if address is not None and address.version == net.version and address in net:
                return index
        raise DaemonError(f"no matching subnet for {what} {value}")

    for value in cmd.ranges:
        i = home(value, "range")
        configs[i] = SubnetConfig(subnet=configs[i].subnet, ip_range=value, aux=configs[i].aux)
    for value in cmd.gateways:
        i = home(value, "gateway")
        c = configs[i]
        configs[i] = SubnetConfig(subnet=c.subnet, ip_range=c.ip_range, gateway=value, aux=c.aux)
    for key, value in cmd.aux:
        i = home(value, "aux-address")
        c = configs[i]
        configs[i] = SubnetConfig(subnet=c.subnet, ip_range=c.ip_range, gateway=c.gateway,
                                  aux=(*c.aux, (key, value)))
    return configs


SWARM_MANAGER_REDIRECT = ('This node is not a swarm manager. Use "docker swarm init" or '
                          '"docker swarm join" to connect this node to swarm and try again.')
"""dockerd 20.10's answer to a global-scope network outside swarm mode (a real capture:
tests/captures/global-scope.jsonl)."""


class NetworkOps(Core):
    """Network creation, removal and the pool replay of a daemon start."""

    def network_create(self, cmd: NetworkCreate) -> Flow[str]:
        if cmd.name in self.networks:
            raise DaemonError(f"network with name {cmd.name} already exists")
        configs = consolidate(cmd)
        net = self._new_network(cmd, configs)
        driver = yield from self.driver(cmd.driver)
        if driver is not None:
            net.scope = cmd.scope or driver.scope
            yield from self._swarm_network(net, driver)
        skip = yield from self._gw_alloc_check(net, driver)
        ipam = yield from self.ipam_driver(cmd.ipam_driver)
        net.address_space = yield from self._address_space(net, ipam)
        yield from self.allocate(net, skip)
        if driver is not None:
            net.id = self.ids.take("network")  # on the wire from here on
            answer = yield from self.call(driver.name, Endpoint.CREATE_NETWORK, Struct(
                NetworkID=net.id, Options=self._create_options(net),
                IPv4Data=self.ipam_data(net, 4), IPv6Data=self.ipam_data(net, 6)))
            if answer.error is not None:
                yield from self.release_ipam(net)
                raise DaemonError(answer.error)
            if net.scope == Scope.GLOBAL and self.version.global_scope_needs_swarm:
                yield from self._refuse_global_scope(net, driver)
        self.networks[net.name] = net
        return net.id

    def _swarm_network(self, net: EmulatedNetwork, driver: PluginState) -> Flow[None]:
        """Where a swarm member hands a global-scope network to the swarm (``SwarmNode``);
        a daemon outside a swarm carries on."""
        return
        yield

    def _refuse_global_scope(self, net: EmulatedNetwork, driver: PluginState) -> Flow[None]:
        """20.10 outside swarm mode: the global datastore is missing, so ``NewNetwork`` undoes
        the driver's network, then the IPAM allocation, and answers the manager redirect."""
        yield from self.call(driver.name, Endpoint.DELETE_NETWORK, Struct(NetworkID=net.id))
        yield from self.release_ipam(net)
        raise DaemonError(SWARM_MANAGER_REDIRECT)

    def _new_network(self, cmd: NetworkCreate, configs: list[SubnetConfig]) -> EmulatedNetwork:
        split: dict[int, list[SubnetConfig]] = {4: [], 6: []}
        for config in configs:
            parsed = parse_cidr(config.subnet)
            assert parsed is not None
            if self.version.canonical_subnets and parsed.ip != parsed.network.network_address:
                raise DaemonError(f"invalid subnet {config.subnet}: it should be "
                                  f"{parsed.network}")
            split[parsed.version].append(config)
        remote = cmd.driver not in {"bridge", "host", "null", "macvlan", "ipvlan"}
        return EmulatedNetwork(
            id="" if remote else self.local.take("network"), name=cmd.name, driver=cmd.driver,
            ipam_driver=cmd.ipam_driver, remote_driver=remote,
            remote_ipam=cmd.ipam_driver != "default", internal=cmd.internal,
            ipv4=cmd.ipv4 or not self.version.enable_ipv4_option, ipv6=cmd.ipv6,
            scope=cmd.scope or Scope.LOCAL, generic=dict(cmd.opts),
            ipam_options=dict(cmd.ipam_opts), configs=split)

    def _create_options(self, net: EmulatedNetwork) -> dict[str, object]:
        options: dict[str, object] = {"com.docker.network.enable_ipv6": net.ipv6,
                                      "com.docker.network.generic": dict(net.generic)}
        if self.version.enable_ipv4_option:
            options["com.docker.network.enable_ipv4"] = net.ipv4
        if net.internal:
            options["com.docker.network.internal"] = True
        return options

    def _gw_alloc_check(self, net: EmulatedNetwork,
                        driver: PluginState | None) -> Flow[tuple[bool, bool]]:
        if driver is None or not driver.gw_alloc_checker:
            return False, False
        answer = yield from self.must(driver.name, Endpoint.GW_ALLOC_CHECK,
                                      Struct(Options=self._create_options(net)))
        return bool(answer.value.get("SkipIPv4")), bool(answer.value.get("SkipIPv6"))

    def _address_space(self, net: EmulatedNetwork, ipam: PluginState | None) -> Flow[str]:
        if ipam is None or self.version.spaces_per_create:
            local, global_ = yield from self.spaces(net)
        else:
            local, global_ = ipam.local_space, ipam.global_space
        return global_ if net.scope == Scope.GLOBAL else local

    @staticmethod
    def ipam_data(net: EmulatedNetwork, family: int) -> list[dict[str, object]]:
        """``IPv4Data``/``IPv6Data``: driverapi.IPAMData's own marshaller (sorted keys)."""
        data: list[dict[str, object]] = []
        for info, config in zip(net.infos[family], net.configs[family] or [SubnetConfig()],
                                strict=False):
            entry: dict[str, object] = {"AddressSpace": net.address_space, "Pool": info.pool}
            if info.gateway:
                entry["Gateway"] = info.gateway
            if config.aux:
                entry["AuxAddresses"] = dict(info.aux)
            data.append(entry)
        return data

    # -- pools -----------------------------------------------------------------------------

    def allocate(self, net: EmulatedNetwork,
                 skip: tuple[bool, bool] = (False, False)) -> Flow[None]:
        """``ipamAllocate``: IPv4 then IPv6; an IPv6 failure releases the IPv4 pools."""
        if net.ipv4:
            yield from self._allocate_family(net, 4, skip[0])
        if not net.ipv6:
            return
        try:
            yield from self._allocate_family(net, 6, skip[1])
        except DaemonError:
            yield from self.release_family(net, 4)
            raise

    def _allocate_family(self, net: EmulatedNetwork, family: int, skip_gateway: bool) -> Flow[None]:
        obtained: list[PoolInfo] = []
        net.infos[family] = []
        try:
            for config in net.configs[family] or [SubnetConfig()]:
                info = yield from self._request_pool(net, config, family)
                net.infos[family].append(info)
                obtained.append(info)
                yield from self._gateway(net, config, info, skip_gateway)
                yield from self._aux(net, config, info)
        except DaemonError:
            for info in reversed(obtained):  # Go's deferred ReleasePool, last in first out
                yield from self.ipam(net, Endpoint.RELEASE_POOL, Struct(PoolID=info.pool_id))
            net.infos[family] = []
            raise

    def _request_pool(self, net: EmulatedNetwork, config: SubnetConfig,
                      family: int) -> Flow[PoolInfo]:
        options = None if net.ipam_options is None else dict(net.ipam_options)
        body = Struct(AddressSpace=net.address_space, Pool=config.subnet,
                      SubPool=config.ip_range, Options=options, V6=family == 6)
        held: list[str] = []
        if self.version.spaces_per_request_pool:  # once per pool, not per overlap retry (28.5.2)
            yield from self.spaces(net)
        while True:
            answer = yield from self.ipam(net, Endpoint.REQUEST_POOL, body)
            if answer.error is not None:
                yield from self._release_held(net, held)
                raise DaemonError(answer.error)
            pool = str(answer.value.get("Pool") or "")
            pool_text = cidr_text(pool)
            if pool_text is None:
                yield from self._release_held(net, held)
                raise DaemonError(f"invalid CIDR address: {pool}")
            info = PoolInfo(pool_id=str(answer.value.get("PoolID") or ""), pool=pool_text)
            info.gateway = self._data_gateway(answer.value.get("Data"), config)
            if config.subnet or not self._overlaps_host(net, pool_text):
                yield from self._release_held(net, held)
                return info
            held.append(info.pool_id)

    def _overlaps_host(self, net: EmulatedNetwork, pool: str) -> bool:
        """The overlap re-request rule (PROTOCOL.md 2.3): local networks, remote IPAMs."""
        network = ipaddress.ip_network(pool, strict=False)
        if net.scope == Scope.GLOBAL or not net.remote_ipam or network.prefixlen == 0:
            return False
        for text in self.reserved:
            reserved = ipaddress.ip_network(text, strict=False)
            if reserved.version == network.version and reserved.overlaps(network):
                return True
        return False

    def _release_held(self, net: EmulatedNetwork, held: list[str]) -> Flow[None]:
        for pool_id in reversed(held) if self.version.overlap_release_lifo else held:
            yield from self.ipam(net, Endpoint.RELEASE_POOL, Struct(PoolID=pool_id))

    @staticmethod
    def _data_gateway(data: object, config: SubnetConfig) -> str | None:
        if config.gateway or not isinstance(data, dict) or GATEWAY_LABEL not in data:
            return None
        text = cidr_text(data[GATEWAY_LABEL])
        if text is None:
            raise DaemonError(f"failed to parse gateway address ({data[GATEWAY_LABEL]}) "
                              f"returned by ipam driver: invalid CIDR address: "
                              f"{data[GATEWAY_LABEL]}")
        return text

    def _gateway(self, net: EmulatedNetwork, config: SubnetConfig, info: PoolInfo,
                 skip: bool) -> Flow[None]:
        if info.gateway is not None and not config.gateway:
            return
        if skip and not config.gateway:
            return
        wanted = parse_ip(config.gateway)
        answer = yield from self.ipam(net, Endpoint.REQUEST_ADDRESS, Struct(
            PoolID=info.pool_id, Address="" if wanted is None else str(wanted),
            Options={GATEWAY_OPTION: GATEWAY_LABEL}))
        error = answer.error or self._address_error(answer.value.get("Address"))
        if error:
            raise DaemonError(f"failed to allocate gateway ({config.gateway}): {error}")
        info.gateway = cidr_text(answer.value.get("Address"))

    def _aux(self, net: EmulatedNetwork, config: SubnetConfig, info: PoolInfo) -> Flow[None]:
        for key, value in config.aux:
            ip = parse_ip(value)
            if ip is None:
                raise DaemonError(f"non parsable secondary ip address ({key}:{value}) passed "
                                  f"for network {net.name}")
            if ip.version != info.network.version or ip not in info.network:
                raise DaemonError(f"auxilairy address: ({key}:{value}) must belong to the "
                                  f"master pool: {info.pool}")
            answer = yield from self.ipam(net, Endpoint.REQUEST_ADDRESS, Struct(
                PoolID=info.pool_id, Address=str(ip), Options=None))
            error = answer.error or self._address_error(answer.value.get("Address"))
            if error:
                raise DaemonError(f"failed to allocate secondary ip address ({key}:{value}): "
                                  f"{error}")
            info.aux.append((key, str(cidr_text(answer.value.get("Address")))))

    def _address_error(self, address: object) -> str | None:
        """What the remote IPAM shim says about a RequestAddress answer (None: usable)."""
        if not address:
            return self.version.no_address
        return None if cidr_text(address) is not None else f"invalid CIDR address: {address}"

    # -- release ---------------------------------------------------------------------------

    def release_family(self, net: EmulatedNetwork, family: int) -> Flow[None]:
        """``ipamReleaseVersion``: gateway, aux addresses, pool, for each pool (errors logged)."""
        for info in net.infos[family]:
            if info.gateway:
                yield from self._release_address(net, info.pool_id, info.gateway)
            for _key, cidr in info.aux:
                parsed = parse_cidr(cidr)
                if parsed is not None and parsed.ip in info.network:
                    yield from self._release_address(net, info.pool_id, cidr)
            yield from self.ipam(net, Endpoint.RELEASE_POOL, Struct(PoolID=info.pool_id))
        net.infos[family] = []

    def _release_address(self, net: EmulatedNetwork, pool_id: str, cidr: str) -> Flow[None]:
        parsed = parse_cidr(cidr)
        address = "" if parsed is None else str(parsed.ip)
        yield from self.ipam(net, Endpoint.RELEASE_ADDRESS,
                             Struct(PoolID=pool_id, Address=address))

    def release_ipam(self, net: EmulatedNetwork) -> Flow[None]:
        yield from self.release_family(net, 4)
        yield from self.release_family(net, 6)

    def network_remove(self, name: str) -> Flow[None]:
        net = self.networks.get(name)
        if name in PREDEFINED:
            raise DaemonError(f"{name} is a pre-defined network and cannot be removed")
        if net is None:
            raise DaemonError(f"network {name} not found")
        if net.endpoints:
            raise DaemonError(f"error while removing network: network {name} id {net.id} has "
                              "active endpoints")
        yield from self.release_ipam(net)
        if net.remote_driver:
            yield from self.call(net.driver, Endpoint.DELETE_NETWORK,
                                 Struct(NetworkID=net.id))
        del self.networks[name]

    # -- daemon start -----------------------------------------------------------------------

    def replay_pools(self) -> Flow[None]:
        """``reservePools``: re-request pools, gateways and aux addresses of every network
        whose IPAM plugin asks for replay (errors are only logged by dockerd)."""
        for net in list(self.networks.values()):
            if not net.remote_ipam:
                continue
            try:
                ipam = yield from self.ipam_driver(net.ipam_driver)
                if ipam is not None and ipam.requires_replay:
                    self._pseudo_configs(net)
                    yield from self.allocate(net)
            except DaemonError:
                continue

    @staticmethod
    def _pseudo_configs(net: EmulatedNetwork) -> None:
        for family in (4, 6):
            configs, infos = net.configs[family], net.infos[family]
            if infos and (not configs or (len(configs) == 1 and not configs[0].subnet)):
                configs = [SubnetConfig(subnet=infos[0].pool)]
            filled = []
            for i, config in enumerate(configs):
                gateway = infos[i].gateway if i < len(infos) else None
                if not config.gateway and gateway:
                    parsed = parse_cidr(gateway)
                    config = SubnetConfig(subnet=config.subnet, ip_range=config.ip_range,
                                          gateway=str(parsed.ip) if parsed else "",
                                          aux=config.aux)
                filled.append(config)
            net.configs[family] = filled
