"""The ledger: what the live plugin has handed out so far, to judge the values it chooses.

Replay cannot ask a plugin for its state, but it sees every answer. From the successful live
answers it keeps the pools held (PoolID -> pool and address space) and the addresses in use per
pool. The comparison rules then check that an address the allocator picked lies in the pool and
is not in use, and that a new dynamic pool does not overlap one still held in its space.
Pools with a sub-pool (``--ip-range``) share their parent's addresses, so addresses are kept per
pool network, not per PoolID.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ipamx_spy.catalogue import GATEWAY_LABEL

JSON = Any
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, kw_only=True)
class Pool:
    pool_id: str
    network: Network
    space: str


def parse_interface(text: object) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    if not isinstance(text, str) or "/" not in text:
        return None
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        return None


def parse_address(text: object) -> Address | None:
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_address(text.split("/", 1)[0])
    except ValueError:
        return None


@dataclass
class Ledger:
    pools: dict[str, Pool] = field(default_factory=dict)
    in_use: dict[Network, set[Address]] = field(default_factory=dict)

    def pool(self, pool_id: object) -> Pool | None:
        return self.pools.get(pool_id) if isinstance(pool_id, str) else None

    def holder(self, address: Address, network: Network) -> bool:
        return address in self.in_use.get(network, set())

    def overlapping(self, network: Network, space: str) -> Pool | None:
        """A pool still held in ``space`` that overlaps ``network``."""
        for pool in self.pools.values():
            if (pool.space == space and pool.network.version == network.version
                    and pool.network.overlaps(network)):
                return pool
        return None

    def update(self, endpoint: str, request: JSON, response: JSON) -> None:
        """Take note of a successful live exchange (request as sent, answer as received)."""
        if not isinstance(request, Mapping):
            return
        handler = _UPDATES.get(endpoint)
        if handler is not None:
            handler(self, request, response if isinstance(response, Mapping) else {})

    def _request_pool(self, request: Mapping[str, JSON], response: Mapping[str, JSON]) -> None:
        interface = parse_interface(response.get("Pool"))
        pool_id = response.get("PoolID")
        if interface is None or not isinstance(pool_id, str):
            return
        self.pools[pool_id] = Pool(pool_id=pool_id, network=interface.network,
                                   space=str(request.get("AddressSpace", "")))
        data = response.get("Data")
        gateway = parse_address(data.get(GATEWAY_LABEL)) if isinstance(data, Mapping) else None
        if gateway is not None:
            self.in_use.setdefault(interface.network, set()).add(gateway)

    def _release_pool(self, request: Mapping[str, JSON], _response: Mapping[str, JSON]) -> None:
        pool = self.pools.pop(str(request.get("PoolID")), None)
        if pool is not None and not any(p.network == pool.network for p in self.pools.values()):
            self.in_use.pop(pool.network, None)

    def _request_address(self, request: Mapping[str, JSON],
                         response: Mapping[str, JSON]) -> None:
        pool, address = self.pool(request.get("PoolID")), parse_address(response.get("Address"))
        if pool is not None and address is not None:
            self.in_use.setdefault(pool.network, set()).add(address)

    def _release_address(self, request: Mapping[str, JSON],
                         _response: Mapping[str, JSON]) -> None:
        pool, address = self.pool(request.get("PoolID")), parse_address(request.get("Address"))
        if pool is not None and address is not None:
            self.in_use.get(pool.network, set()).discard(address)


Update = Callable[[Ledger, Mapping[str, JSON], Mapping[str, JSON]], None]
_UPDATES: dict[str, Update] = {
    "IpamDriver.RequestPool": Ledger._request_pool,
    "IpamDriver.ReleasePool": Ledger._release_pool,
    "IpamDriver.RequestAddress": Ledger._request_address,
    "IpamDriver.ReleaseAddress": Ledger._release_address,
}
