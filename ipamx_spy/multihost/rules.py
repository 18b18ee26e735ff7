"""Cross-host rules over a merged timeline (``check --merge``), sans-IO.

Theory of operation. The exchanges of every host are walked in wall-clock order. For each host
the walk keeps the address spaces dockerd was told (``GetDefaultAddressSpaces``) and the pools
it was given (``RequestPool``: PoolID to address space and subnet). Addresses of the *global*
space are one resource for every host, so the walk keeps which host holds each (by address
space, subnet and IP) and which hosts hold each global subnet:

* IPX501 (error): ``RequestAddress`` answered on host B with an address that host A was handed
  earlier and has not released: two containers on two hosts would share an IP.
* IPX502 (warning): ``ReleasePool`` answered on one host for a global subnet that another host
  still holds (requested and not released) or still has addresses from. Fine for an allocator
  that counts holds per host (ipamx-spy's ``--store etcd://``); a plugin that does not has just
  freed a subnet in use.

Two rules follow the swarm flow (docs/swarm.md): the manager allocates an overlay network's pool
and addresses in the global space, then every node that runs a task *re-reserves* the same
subnet and exactly those addresses in its own local space.

* IPX503 (error): such a re-reservation was refused (a local ``RequestPool`` for a subnet held
  in the global space, or a local ``RequestAddress`` for exactly an address the global space
  handed out): dockerd on that node fails the task. The usual cause is an IPAM driver that keeps
  one address set for every space.
* IPX504 (warning): a node re-reserved, in its local pool of a globally held subnet, an exact
  address that the global space has not handed out (or has released): the swarm allocator did
  not choose it, so it may hand it to another task, on another node.

A pool counts as global when the host's ``RequestPool`` named the global address space (as that
host's ``GetDefaultAddressSpaces`` answer called it, else any space whose name contains
"global"). Local spaces overlap across hosts by design and are compared with each other never,
only with the global space by IPX503 and IPX504.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ipamx_spy import render
from ipamx_spy.dockerd.endpoints import Endpoint, parse_endpoint
from ipamx_spy.dockerd.scopes import Scope, space_scope
from ipamx_spy.findings import Finding, Severity
from ipamx_spy.recording import Exchange
from ipamx_spy.validate.rules import Rule

CROSS_HOST_RULES: dict[str, Rule] = {
    rule.code: rule for rule in (
        Rule(code="IPX501", severity=Severity.ERROR,
             title="one global address handed out on two hosts (check --merge)"),
        Rule(code="IPX502", severity=Severity.WARNING,
             title="global pool released by one host while another still uses it "
                   "(check --merge)"),
        Rule(code="IPX503", severity=Severity.ERROR,
             title="a node's local re-reservation of what the swarm's global allocation "
                   "chose was refused (check --merge)"),
        Rule(code="IPX504", severity=Severity.WARNING,
             title="a node re-reserved an address the global space did not hand out "
                   "(check --merge)"),
    )
}


@dataclass
class HostView:
    global_space: str | None = None
    pools: dict[str, tuple[str, str]] = field(default_factory=dict)  # PoolID -> (space, subnet)


def _ok(exchange: Exchange) -> dict[str, Any] | None:
    if render.problem(exchange) is not None or exchange.response is None:
        return None
    value = exchange.response.value
    return value if isinstance(value, dict) else None


def _request(exchange: Exchange) -> dict[str, Any]:
    value = exchange.request.value
    return value if isinstance(value, dict) else {}


def _ip(address: Any) -> str:
    return str(address or "").split("/", 1)[0]


def _subnet(text: Any) -> str:
    """A subnet in canonical form (``10.4.4.0/24``), the text itself when it is none."""
    try:
        return str(ipaddress.ip_network(str(text), strict=False))
    except ValueError:
        return str(text)


def _finding(code: str, exchange: Exchange, message: str) -> Finding:
    return Finding(code=code, severity=CROSS_HOST_RULES[code].severity, seq=exchange.seq,
                   message=message)


@dataclass
class CrossHost:
    """The walk's state; feed ``observe`` one exchange at a time in time order."""

    hosts: dict[str, HostView] = field(default_factory=dict)
    leases: dict[tuple[str, str, str], tuple[str, int]] = field(default_factory=dict)
    holders: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    since: dict[str, tuple[str, int]] = field(default_factory=dict)  # subnet -> first hold

    def observe(self, host: str, exchange: Exchange) -> Iterator[Finding]:
        view = self.hosts.setdefault(host, HostView())
        endpoint = parse_endpoint(exchange.endpoint)
        answer = _ok(exchange)
        if answer is None:
            if endpoint is not None and render.problem(exchange) is not None:
                yield from self.refused(host, view, exchange, endpoint)
            return
        handler = _HANDLERS.get(endpoint) if endpoint is not None else None
        if handler is not None:
            yield from handler(self, host, view, exchange, answer)

    def _is_global_space(self, view: HostView, space: str) -> bool:
        return space_scope(space, view.global_space or "") is Scope.GLOBAL

    def held_globally(self, subnet: str) -> tuple[str, int] | None:
        """(host, exchange number) of the global RequestPool holding ``subnet``, if any."""
        for (_space, held), hosts in self.holders.items():
            if hosts and _subnet(held) == _subnet(subnet):
                return self.since.get(_subnet(held), (sorted(hosts)[0], 0))
        return None

    def global_lease(self, subnet: str, ip: str) -> tuple[str, int] | None:
        return next((got for (_space, held, leased), got in self.leases.items()
                     if leased == ip and _subnet(held) == _subnet(subnet)), None)

    def _local_pool(self, view: HostView, pool_id: str) -> str | None:
        """The subnet of one of this host's local pools that is held in the global space."""
        pool = view.pools.get(pool_id)
        if pool is None or self._is_global_space(view, pool[0]):
            return None
        return pool[1] if self.held_globally(pool[1]) is not None else None

    def refused(self, host: str, view: HostView, exchange: Exchange,
                endpoint: Endpoint) -> Iterator[Finding]:
        """IPX503: a local re-reservation of the global allocation's choice failed."""
        request = _request(exchange)
        said = render.problem(exchange)
        if endpoint is Endpoint.REQUEST_POOL:
            space, subnet = str(request.get("AddressSpace") or ""), str(request.get("Pool") or "")
            held = self.held_globally(subnet) if subnet else None
            if held is None or self._is_global_space(view, space):
                return
            what = f"pool {_subnet(subnet)} in its local space '{space}'"
        elif endpoint is Endpoint.REQUEST_ADDRESS:
            pool = self._local_pool(view, str(request.get("PoolID") or ""))
            ip = _ip(request.get("Address"))
            held = self.global_lease(pool, ip) if pool is not None and ip else None
            if held is None:
                return
            what = f"{ip} in its local pool {request.get('PoolID')}"
        else:
            return
        yield _finding("IPX503", exchange, (
            f"{host} could not re-reserve {what}, which the swarm's global allocation chose "
            f"({held[0]} #{held[1]}): dockerd on {host} fails the task ({said}); the IPAM "
            "driver must keep each host's local address space apart from the global one "
            "and accept the node's exact request (docs/swarm.md)"))

    def _global(self, view: HostView, pool_id: str) -> tuple[str, str] | None:
        pool = view.pools.get(pool_id)
        if pool is None:
            return None
        return pool if self._is_global_space(view, pool[0]) else None

    def spaces(self, host: str, view: HostView, exchange: Exchange,
               answer: dict[str, Any]) -> Iterator[Finding]:
        view.global_space = str(answer.get("GlobalDefaultAddressSpace") or "") or None
        return iter(())

    def request_pool(self, host: str, view: HostView, exchange: Exchange,
                     answer: dict[str, Any]) -> Iterator[Finding]:
        space = str(_request(exchange).get("AddressSpace") or "")
        pool_id, subnet = str(answer.get("PoolID") or ""), str(answer.get("Pool") or "")
        view.pools[pool_id] = (space, subnet)
        if self._global(view, pool_id) is not None:
            holders = self.holders.setdefault((space, subnet), set())
            if not holders:
                self.since[_subnet(subnet)] = (host, exchange.seq)
            holders.add(host)
        return iter(())

    def request_address(self, host: str, view: HostView, exchange: Exchange,
                        answer: dict[str, Any]) -> Iterator[Finding]:
        request = _request(exchange)
        pool = self._global(view, str(request.get("PoolID") or ""))
        ip = _ip(answer.get("Address"))
        if pool is None:
            yield from self._re_reserved(host, view, exchange, _ip(request.get("Address")))
            return
        if not ip:
            return
        key = (*pool, ip)
        earlier = self.leases.get(key)
        if earlier is not None and earlier[0] != host:
            yield Finding(code="IPX501", severity=CROSS_HOST_RULES["IPX501"].severity,
                          seq=exchange.seq, message=(
                f"{ip} of global pool {pool[1]} was handed out on {host} although {earlier[0]} "
                f"got it at #{earlier[1]} and has not released it: two containers on two "
                "hosts share an address; the IPAM driver needs a store shared by the hosts"))
        self.leases[key] = (host, exchange.seq)

    def _re_reserved(self, host: str, view: HostView, exchange: Exchange,
                     asked: str) -> Iterator[Finding]:
        """IPX504: an exact local request in a globally held subnet, for an address the
        global space has not handed out."""
        pool_id = str(_request(exchange).get("PoolID") or "")
        subnet = self._local_pool(view, pool_id)
        if subnet is None or not asked or self.global_lease(subnet, asked) is not None:
            return
        held = self.held_globally(subnet) or ("?", 0)
        yield _finding("IPX504", exchange, (
            f"{host} re-reserved {asked} in its local pool {pool_id}, but the global space "
            f"that holds {_subnet(subnet)} ({held[0]} #{held[1]}) has not handed it out (or "
            "released it): the swarm allocator did not choose this address and may give it to "
            "another task on another node"))

    def release_address(self, host: str, view: HostView, exchange: Exchange,
                        answer: dict[str, Any]) -> Iterator[Finding]:
        request = _request(exchange)
        pool = self._global(view, str(request.get("PoolID") or ""))
        if pool is not None:
            self.leases.pop((*pool, _ip(request.get("Address"))), None)
        return iter(())

    def release_pool(self, host: str, view: HostView, exchange: Exchange,
                     answer: dict[str, Any]) -> Iterator[Finding]:
        pool_id = str(_request(exchange).get("PoolID") or "")
        pool = self._global(view, pool_id)
        view.pools.pop(pool_id, None)
        if pool is None:
            return
        holders = self.holders.get(pool, set())
        holders.discard(host)
        users = sorted(holders | {h for (s, n, _ip), (h, _seq) in self.leases.items()
                                  if (s, n) == pool and h != host})
        if users:
            yield Finding(code="IPX502", severity=CROSS_HOST_RULES["IPX502"].severity,
                          seq=exchange.seq, message=(
                f"{host} released global pool {pool[1]} while {', '.join(users)} still "
                "use(s) it: right only if the IPAM driver counts holds per host (as "
                "ipamx-spy --store etcd:// does); otherwise the subnet is free for reuse "
                "while containers still have addresses in it"))


_HANDLERS: Mapping[Endpoint, Any] = {
    Endpoint.GET_DEFAULT_ADDRESS_SPACES: CrossHost.spaces,
    Endpoint.REQUEST_POOL: CrossHost.request_pool,
    Endpoint.REQUEST_ADDRESS: CrossHost.request_address,
    Endpoint.RELEASE_ADDRESS: CrossHost.release_address,
    Endpoint.RELEASE_POOL: CrossHost.release_pool,
}


def cross_host_findings(exchanges: Iterable[tuple[str, Exchange]]) -> list[Finding]:
    """Findings of IPX501-IPX504 over ``(host, exchange)`` pairs in wall-clock order."""
    walk = CrossHost()
    return [f for host, exchange in exchanges for f in walk.observe(host, exchange)]
