"""The reference IPAM allocator: Docker's default IPAM as a sans-IO object.

``Allocator`` holds a configuration, the data (``model.State``) and the generation whose rules
apply (``compat``: "27", "26" or "20.10", one table entry each). Its four protocol methods are
atomic: a request that raises ``IpamError`` changes nothing. Everything else here is read-only views
(leases, networks) and the snapshot/replay hooks the state store uses.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..dockerd.options import ENDPOINT_NAME_OPTION, GATEWAY_LABEL, GATEWAY_OPTION, MAC_OPTION
from .config import IpamConfig
from .errors import StateError
from .gen26 import Gen26
from .gen27 import Gen27
from .gen2010 import Gen2010
from .model import Change, Lease, Pool, Space, State, Transaction
from .requests import (
    AddressRequest,
    AllocatedPool,
    Generation,
    PoolRequest,
)
from .snapshot import from_snapshot, to_snapshot

JSON = Any
Clock = Callable[[], float]

GENERATIONS: dict[str, Callable[[IpamConfig], Generation]] = {
    "27": Gen27, "26": Gen26, "20.10": Gen2010}


@dataclass(frozen=True, kw_only=True)
class LeaseView:
    """One address handed out by ``RequestAddress`` (reserved addresses are not leases)."""

    address_space: str
    pool: str
    pool_id: str
    address: str
    prefix_len: int
    time: float
    gateway: bool
    endpoint: str
    mac: str


@dataclass(frozen=True, kw_only=True)
class NetworkView:
    """One allocated subnet and how full it is."""

    address_space: str
    family: int
    pool: str
    pool_id: str
    sub_pool_ids: tuple[str, ...]
    in_use: int
    leases: int
    capacity: int

    @property
    def utilisation(self) -> float:
        return self.in_use / self.capacity if self.capacity else 1.0


class Allocator:
    """Docker's default IPAM. Build with an ``IpamConfig`` (defaults: v27+, LocalDefault)."""

    def __init__(self, config: IpamConfig | None = None, *, clock: Clock = time.time,
                 state: State | None = None) -> None:
        self.config = config or IpamConfig()
        self.generation = GENERATIONS[self.config.compat](self.config)
        self.state = state or State(self.generation.sizing)
        self.clock = clock

    # -- the protocol ----------------------------------------------------------------------

    def default_address_spaces(self) -> tuple[str, str]:
        return (self.config.local_space, self.config.global_space)

    def request_pool(self, address_space: str, pool: str = "", sub_pool: str = "",
                     options: Mapping[str, str] | None = None, v6: bool = False) -> AllocatedPool:
        """Reserve a subnet. Raises IpamError (sent to dockerd as is) when refused."""
        request = PoolRequest(address_space=address_space, pool=pool, sub_pool=sub_pool,
                              options=dict(options or {}), v6=v6)
        with self.state.transaction():
            return self.generation.request_pool(self.state, request)

    def release_pool(self, pool_id: str) -> None:
        """Give a subnet back. Raises IpamError when the pool ID names no pool."""
        with self.state.transaction():
            self.generation.release_pool(self.state, pool_id)

    def request_address(self, pool_id: str, address: str = "",
                        options: Mapping[str, str] | None = None) -> str:
        """Reserve one address; returns ``ip/<pool prefix length>``. Raises IpamError."""
        opts = dict(options or {})
        lease = Lease(time=self.clock(), pool_id=sys.intern(pool_id),
                      gateway=opts.get(GATEWAY_OPTION) == GATEWAY_LABEL,
                      endpoint=opts.get(ENDPOINT_NAME_OPTION, ""), mac=opts.get(MAC_OPTION, ""))
        request = AddressRequest(pool_id=pool_id, address=address, options=opts, lease=lease)
        with self.state.transaction():
            return self.generation.request_address(self.state, request)

    def release_address(self, pool_id: str, address: str) -> None:
        """Free one address (silently if it was free). Raises IpamError for a bad pool or IP."""
        with self.state.transaction():
            self.generation.release_address(self.state, pool_id, address)

    # -- durability hooks ------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Group requests; ``changes`` are their redo records; an exception undoes them all."""
        with self.state.transaction() as txn:
            yield txn

    def apply(self, changes: list[Change]) -> None:
        """Replay journaled change records. Raises ValueError/KeyError/TypeError if malformed."""
        for change in changes:
            self.state.apply(change)

    def snapshot(self) -> dict[str, JSON]:
        """The whole state, with the settings that must match for it to be loaded again."""
        return {"compat": self.config.compat.value,
                "address_spaces": list(self.default_address_spaces()),
                **to_snapshot(self.state)}

    @classmethod
    def from_snapshot(cls, data: dict[str, JSON], config: IpamConfig, *,
                      clock: Clock = time.time, source: str = "snapshot") -> Allocator:
        """Rebuild from ``snapshot()``. Raises StateError when it does not fit ``config``."""
        if data.get("compat") != config.compat:
            raise StateError(f"{source} was written in compat {data.get('compat')!r} mode but "
                             f"the allocator runs in compat {config.compat.value!r}; start with "
                             f"--compat {data.get('compat')} or use another state file")
        spaces = [config.local_space, config.global_space]
        if data.get("address_spaces") != spaces:
            raise StateError(f"{source} holds address spaces {data.get('address_spaces')} but "
                             f"the allocator is configured with {spaces}; pool IDs dockerd "
                             "keeps would no longer resolve")
        sizing = GENERATIONS[config.compat](config).sizing
        try:
            state = from_snapshot(data, sizing)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise StateError(f"{source} is damaged: {exc!r}") from exc
        return cls(config, clock=clock, state=state)

    # -- views -----------------------------------------------------------------------------

    def _pools(self) -> Iterator[tuple[Space, Pool]]:
        for space in self.state.spaces.values():
            for prefix in sorted(space.pools, key=lambda p: p.key()):
                yield space, space.pools[prefix]

    def leases(self) -> list[LeaseView]:
        """Every address handed out, by space, pool and address."""
        views = []
        for space, pool in self._pools():
            name = self.config.space_name(space.scope)
            for offset, lease in sorted(pool.leases.items()):
                views.append(LeaseView(
                    address_space=name, pool=str(pool.prefix), pool_id=lease.pool_id,
                    address=str(pool.prefix.at(offset)), prefix_len=pool.prefix.bits,
                    time=lease.time, gateway=lease.gateway, endpoint=lease.endpoint,
                    mac=lease.mac))
        return views

    def networks(self) -> list[NetworkView]:
        """Every allocated subnet with its usage (reserved addresses count as in use)."""
        views = []
        for space, pool in self._pools():
            name = self.config.space_name(space.scope)
            views.append(NetworkView(
                address_space=name, family=pool.prefix.version, pool=str(pool.prefix),
                pool_id=f"{name}/{pool.prefix}",
                sub_pool_ids=tuple(self.generation.sub_pool_ids(space, pool)),
                in_use=len(pool.addrs), leases=len(pool.leases), capacity=pool.addrs.size))
        return views
