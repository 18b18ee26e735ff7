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

A pool counts as global when the host's ``RequestPool`` named the global address space: its
scope is the protocol authority's (``dockerd.scopes.space_scope``), by the name that host's
``GetDefaultAddressSpaces`` answer gave (``global_space_of``: read as dockerd reads it, keys
matched case-insensitively); only a recording that starts after that answer falls back to the
word in the space's name. Local spaces overlap across hosts by design and are compared with
each other never, only with the global space by IPX503 and IPX504.

What was handed out is followed with the one ledger (``dockerd.ledger``): each host's pools in
its own ``Ledger``, the global space in one ``Ledger`` shared by every host (each host's pools
under ``shared_pool_id``), whose addresses say which host got them (``Holder``). So one
subnet's pools share addresses across hosts as sub-pools do, and a subnet's addresses are
forgotten when its last holder releases it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ipamx_spy import render
from ipamx_spy.dockerd.endpoints import Endpoint, parse_endpoint
from ipamx_spy.dockerd.goparse import IPAddress, IPNetwork, cidr_ip, parse_cidr, parse_ip
from ipamx_spy.dockerd.ledger import Holder, IssuedPool, Ledger, pool_daemon, shared_pool_id
from ipamx_spy.dockerd.scopes import Scope, global_space_of, space_scope
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
    """One host: the global space its GetDefaultAddressSpaces answer named, and its pools
    (every space's, by its own PoolIDs) in its own ``Ledger``."""

    global_space: str | None = None
    ledger: Ledger = field(default_factory=Ledger)


def _ok(exchange: Exchange) -> dict[str, Any] | None:
    if render.problem(exchange) is not None or exchange.response is None:
        return None
    value = exchange.response.value
    return value if isinstance(value, dict) else None


def _request(exchange: Exchange) -> dict[str, Any]:
    value = exchange.request.value
    return value if isinstance(value, dict) else {}


def _address(text: Any) -> IPAddress | None:
    """An address as ``ip`` or ``ip/len``."""
    ip = cidr_ip(text)
    return ip if ip is not None else parse_ip(text)


def _finding(code: str, exchange: Exchange, message: str) -> Finding:
    return Finding(code=code, severity=CROSS_HOST_RULES[code].severity, seq=exchange.seq,
                   message=message)


@dataclass
class CrossHost:
    """The walk's state; feed ``observe`` one exchange at a time in time order.

    ``shared`` is the global space: one ``Ledger`` for every host, each host's global pools
    under ``shared_pool_id(host, PoolID)``, so one subnet's pools share addresses across
    hosts and the subnet is free when its last holder releases it; each global address is
    handed out with its ``Holder``. ``since`` is when a subnet's current hold began."""

    hosts: dict[str, HostView] = field(default_factory=dict)
    shared: Ledger = field(default_factory=Ledger)
    since: dict[str, Holder] = field(default_factory=dict)  # IssuedPool.key -> first hold

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

    def _held_globally(self, network: IPNetwork) -> IssuedPool | None:
        return self.shared.held_network(network, Scope.GLOBAL)

    def held_globally(self, network: IPNetwork) -> Holder | None:
        """(host, exchange number) of the global RequestPool holding ``network``, if any."""
        pool = self._held_globally(network)
        return None if pool is None else self.since.get(pool.key, (pool_daemon(pool), 0))

    def global_lease(self, network: IPNetwork, ip: IPAddress) -> Holder | None:
        """Who the global space handed ``ip`` of ``network`` to, and has not got back."""
        pool = self._held_globally(network)
        return None if pool is None else self.shared.holder(pool, ip)

    def _local_pool(self, view: HostView, pool_id: object) -> IPNetwork | None:
        """The network of one of this host's local pools that is held in the global space."""
        pool = view.ledger.held(pool_id)
        if pool is None or pool.network is None or self._is_global_space(view, pool.space):
            return None
        return pool.network if self._held_globally(pool.network) is not None else None

    def refused(self, host: str, view: HostView, exchange: Exchange,
                endpoint: Endpoint) -> Iterator[Finding]:
        """IPX503: a local re-reservation of the global allocation's choice failed."""
        request = _request(exchange)
        said = render.problem(exchange)
        held: Holder | None = None
        if endpoint is Endpoint.REQUEST_POOL:
            space = str(request.get("AddressSpace") or "")
            parsed = parse_cidr(request.get("Pool")) if request.get("Pool") else None
            if parsed is not None and not self._is_global_space(view, space):
                held = self.held_globally(parsed.network)
            what = f"pool {parsed.network if parsed else ''} in its local space '{space}'"
        elif endpoint is Endpoint.REQUEST_ADDRESS:
            network = self._local_pool(view, request.get("PoolID"))
            ip = _address(request.get("Address"))
            held = self.global_lease(network, ip) if network is not None and ip else None
            what = f"{ip} in its local pool {request.get('PoolID')}"
        if held is None:
            return
        yield _finding("IPX503", exchange, (
            f"{host} could not re-reserve {what}, which the swarm's global allocation chose "
            f"({held[0]} #{held[1]}): dockerd on {host} fails the task ({said}); the IPAM "
            "driver must keep each host's local address space apart from the global one "
            "and accept the node's exact request (docs/swarm.md)"))

    def _global(self, host: str, view: HostView, pool_id: object) -> IssuedPool | None:
        """The global space's pool of one of this host's held PoolIDs."""
        pool = view.ledger.held(pool_id)
        if pool is None or not self._is_global_space(view, pool.space):
            return None
        return self.shared.held(shared_pool_id(host, pool.pool_id))

    def spaces(self, host: str, view: HostView, exchange: Exchange,
               answer: dict[str, Any]) -> Iterator[Finding]:
        view.global_space = global_space_of(answer) or None
        return iter(())

    def request_pool(self, host: str, view: HostView, exchange: Exchange,
                     answer: dict[str, Any]) -> Iterator[Finding]:
        request = _request(exchange)
        view.ledger.update(exchange.endpoint, request, answer)
        pool = view.ledger.held(answer.get("PoolID"))
        if pool is None or pool.network is None or not self._is_global_space(view, pool.space):
            return iter(())
        shared = IssuedPool(pool_id=shared_pool_id(host, pool.pool_id), network=pool.network,
                            space=Scope.GLOBAL)
        if not self.shared.holders[shared.key]:
            self.since[shared.key] = (host, exchange.seq)
        self.shared.issue(shared.pool_id, pool.network, Scope.GLOBAL)
        return iter(())

    def request_address(self, host: str, view: HostView, exchange: Exchange,
                        answer: dict[str, Any]) -> Iterator[Finding]:
        request = _request(exchange)
        pool = self._global(host, view, request.get("PoolID"))
        view.ledger.update(exchange.endpoint, request, answer)
        if pool is None:
            yield from self._re_reserved(host, view, exchange, _address(request.get("Address")))
            return
        ip = _address(answer.get("Address"))
        if ip is None:
            return
        earlier = self.shared.holder(pool, ip)
        if earlier is not None and earlier[0] != host:
            yield _finding("IPX501", exchange, (
                f"{ip} of global pool {pool.network} was handed out on {host} although "
                f"{earlier[0]} got it at #{earlier[1]} and has not released it: two "
                "containers on two hosts share an address; the IPAM driver needs a store "
                "shared by the hosts"))
        self.shared.hand_out(pool, ip, by=(host, exchange.seq))

    def _re_reserved(self, host: str, view: HostView, exchange: Exchange,
                     asked: IPAddress | None) -> Iterator[Finding]:
        """IPX504: an exact local request in a globally held subnet, for an address the
        global space has not handed out."""
        pool_id = str(_request(exchange).get("PoolID") or "")
        network = self._local_pool(view, pool_id)
        if network is None or asked is None or self.global_lease(network, asked) is not None:
            return
        held = self.held_globally(network) or ("?", 0)
        yield _finding("IPX504", exchange, (
            f"{host} re-reserved {asked} in its local pool {pool_id}, but the global space "
            f"that holds {network} ({held[0]} #{held[1]}) has not handed it out (or "
            "released it): the swarm allocator did not choose this address and may give it to "
            "another task on another node"))

    def release_address(self, host: str, view: HostView, exchange: Exchange,
                        answer: dict[str, Any]) -> Iterator[Finding]:
        request = _request(exchange)
        pool, ip = self._global(host, view, request.get("PoolID")), _address(request.get("Address"))
        view.ledger.update(exchange.endpoint, request, answer)
        if pool is not None and ip is not None:
            self.shared.release(pool, ip)
        return iter(())

    def release_pool(self, host: str, view: HostView, exchange: Exchange,
                     answer: dict[str, Any]) -> Iterator[Finding]:
        request = _request(exchange)
        pool = self._global(host, view, request.get("PoolID"))
        view.ledger.update(exchange.endpoint, request, answer)
        if pool is None:
            return
        others = {pool_daemon(p) for p in self.shared.held_pools(pool.key) if p is not pool}
        others |= {holder for holder, _seq in self.shared.given.get(pool.key, {}).values()}
        self.shared.release_pool(pool.pool_id)
        users = sorted(others - {host})
        if users:
            yield _finding("IPX502", exchange, (
                f"{host} released global pool {pool.network} while {', '.join(users)} still "
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
