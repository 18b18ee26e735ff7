"""Docker v24–v26's default IPAM (``libnetwork/ipam`` on ``netip`` and ``bitmap``).

v24 rewrote the ≤v23 allocator (moby#44968): pools are keyed by parsed, masked prefixes with a
set of children, as in v27+, and an IPv4 /31 or /32 reserves neither its network nor its
broadcast address (a /31 network gets gateway ``.0`` and its first container ``.1``). What it
still shares with ≤v23 is the dynamic pool choice: round-robin over the pre-split predefined
list (PROTOCOL.md 6.9), with no IPv6 ULA pool in the local space, and one bitmap of at most
2^64 - 1 bits per subnet whose cursor never resets. Its errors are v27's lower-case texts,
except that an overlap is not wrapped in ``invalid pool request:``, a bad sub-pool is a parse
error, and the family mismatch of pool and sub-pool is found only when the sub-pool is added.
Read from moby v24.0.9, v25.0.5 and v26.1.5 (``libnetwork/ipam``, ``ipamutils``); the
differential tests compare it with dockerd 26.1.5's own IPAM.
"""

from __future__ import annotations

from .addrset import Sizing
from .config import IpamConfig, Scope
from .dynamic import take_round_robin
from .errors import IpamError, error
from .gen27 import Gen27
from .model import SCOPES, Space, State
from .predefined import SplitList
from .prefix import Prefix
from .requests import PoolRequest

COMPAT = "26"
SIZING = Sizing(block_bits=128, size_cap=(1 << 64) - 1, reset_on_empty=False)


class Gen26(Gen27):
    """The v24–v26 allocator (``compat="26"``): v27's pools, ≤v23's round-robin."""

    compat = COMPAT
    sizing = SIZING

    def __init__(self, config: IpamConfig) -> None:
        super().__init__(config)
        self.candidates = {scope: SplitList(config.predefined(scope)) for scope in SCOPES}

    def _bad_sub_pool(self, request: PoolRequest) -> IpamError:
        return self._parse_error(request, "invalid_subpool")

    def _check_families(self, subnet: Prefix, child: Prefix) -> None:
        """Checked only when the child is added (``allocateSubnetL``)."""

    def _allocate_dynamic(self, state: State, space: Space) -> Prefix:
        excluded = self.config.exclude if space.scope is Scope.LOCAL else ()
        subnet = take_round_robin(state, space, self.candidates[space.scope], excluded)
        if subnet is None:
            raise error(COMPAT, "no_default_pool", version=int(space.kind[-1]))
        self._create(state, space, subnet, space.insertion_index(subnet))
        return subnet

    def _allocate_subnet(self, state: State, space: Space, subnet: Prefix,
                         child: Prefix | None) -> None:
        """``allocateSubnet``: the family check comes after the duplicate check."""
        pool = space.pools.get(subnet)
        if pool is not None and (child is None or child in pool.children):
            raise self._overlap()
        if child is not None and child.version != subnet.version:
            raise error(COMPAT, "families")
        super()._allocate_subnet(state, space, subnet, child)

    @staticmethod
    def _overlap() -> IpamError:
        return error(COMPAT, "overlap")
