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

A pool counts as global when the host's ``RequestPool`` named the global address space (as that
host's ``GetDefaultAddressSpaces`` answer called it, else any space whose name contains
"global"). Local spaces overlap across hosts by design and are never compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ipamx_spy import render
from ipamx_spy.findings import Finding
from ipamx_spy.recording import Exchange
from ipamx_spy.validate.rules import Rule

CROSS_HOST_RULES: dict[str, Rule] = {
    rule.code: rule for rule in (
        Rule(code="IPX501", severity="error",
             title="one global address handed out on two hosts (check --merge)"),
        Rule(code="IPX502", severity="warning",
             title="global pool released by one host while another still uses it "
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


@dataclass
class CrossHost:
    """The walk's state; feed ``observe`` one exchange at a time in time order."""

    hosts: dict[str, HostView] = field(default_factory=dict)
    leases: dict[tuple[str, str, str], tuple[str, int]] = field(default_factory=dict)
    holders: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def observe(self, host: str, exchange: Exchange) -> Iterator[Finding]:
        view = self.hosts.setdefault(host, HostView())
        answer = _ok(exchange)
        if answer is None:
            return
        name = exchange.endpoint.rsplit(".", 1)[-1]
        handler = _HANDLERS.get(name)
        if handler is not None:
            yield from handler(self, host, view, exchange, answer)

    def _global(self, view: HostView, pool_id: str) -> tuple[str, str] | None:
        pool = view.pools.get(pool_id)
        if pool is None:
            return None
        space, _subnet = pool
        is_global = (space == view.global_space if view.global_space
                     else "global" in space.lower())
        return pool if is_global else None

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
            self.holders.setdefault((space, subnet), set()).add(host)
        return iter(())

    def request_address(self, host: str, view: HostView, exchange: Exchange,
                        answer: dict[str, Any]) -> Iterator[Finding]:
        pool = self._global(view, str(_request(exchange).get("PoolID") or ""))
        ip = _ip(answer.get("Address"))
        if pool is None or not ip:
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


_HANDLERS: Mapping[str, Any] = {
    "GetDefaultAddressSpaces": CrossHost.spaces,
    "RequestPool": CrossHost.request_pool,
    "RequestAddress": CrossHost.request_address,
    "ReleaseAddress": CrossHost.release_address,
    "ReleasePool": CrossHost.release_pool,
}


def cross_host_findings(exchanges: Iterable[tuple[str, Exchange]]) -> list[Finding]:
    """Findings of IPX501/IPX502 over ``(host, exchange)`` pairs in wall-clock order."""
    walk = CrossHost()
    return [f for host, exchange in exchanges for f in walk.observe(host, exchange)]
