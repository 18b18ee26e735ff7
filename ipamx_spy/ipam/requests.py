"""The allocator's inputs and outputs, and what every generation implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..dockerd.options import SERIAL_OPTION
from .addrset import Sizing
from .errors import error
from .model import Lease, Pool, Space, State
from .prefix import Addr, parse_addr


@dataclass(frozen=True, kw_only=True)
class PoolRequest:
    """``IpamDriver.RequestPool`` (PROTOCOL.md 2.3)."""

    address_space: str
    pool: str = ""
    sub_pool: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    v6: bool = False


@dataclass(frozen=True, kw_only=True)
class AllocatedPool:
    """The answer to a ``RequestPool``: an opaque ID and the subnet, canonical."""

    pool_id: str
    pool: str


@dataclass(frozen=True, kw_only=True)
class AddressRequest:
    """``IpamDriver.RequestAddress`` (2.5), with the lease record to keep if it succeeds."""

    pool_id: str
    address: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    lease: Lease

    @property
    def serial(self) -> bool:
        return self.options.get(SERIAL_OPTION) == "true"


class Generation(Protocol):
    """One Docker generation's default-IPAM semantics over the shared ``State``."""

    compat: str
    sizing: Sizing

    def request_pool(self, state: State, request: PoolRequest) -> AllocatedPool: ...

    def release_pool(self, state: State, pool_id: str) -> None: ...

    def request_address(self, state: State, request: AddressRequest) -> str: ...

    def release_address(self, state: State, pool_id: str, address: str) -> None: ...

    def sub_pool_ids(self, space: Space, pool: Pool) -> list[str]:
        """The pool IDs of ``pool``'s sub-pools (for the Networks view)."""
        ...


def preferred_address(compat: str, address: str) -> Addr | None:
    """RequestAddress's ``Address``: None when empty, IPv4-mapped addresses unmapped.

    Raises IpamError (``bad_preferred`` in the wording of ``compat``) when it is not an IP.
    """
    if not address:
        return None
    parsed = parse_addr(address)
    if parsed is None:
        raise error(compat, "bad_preferred", address=address)
    return parsed.unmap()
