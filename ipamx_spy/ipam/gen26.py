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
from .config import IpamConfig
from .dynamic import round_robin
from .errors import IpamError, error, text
from .gen27 import Gen27
from .model import SCOPES, Space, State
from .predefined import SplitList
from .prefix import Prefix, go_quote, parse_prefix
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

    def _parse_error(self, request: PoolRequest, key: str) -> IpamError:
        return error(COMPAT, "parse_pool", space=go_quote(request.address_space),
                     pool=go_quote(request.pool), sub=go_quote(request.sub_pool),
                     reason=text(COMPAT, key))

    def _parse_static(self, request: PoolRequest) -> tuple[Prefix, Prefix | None]:
        subnet = parse_prefix(request.pool)
        if subnet is None:
            raise self._parse_error(request, "invalid_pool")
        child = None
        if request.sub_pool:
            child = parse_prefix(request.sub_pool)
            if child is None:
                raise self._parse_error(request, "invalid_subpool")
            child = child.masked()
        subnet = subnet.masked()
        if child is not None and child.bits < subnet.bits:
            child = subnet  # pre-v24 networks: a child bigger than its parent means the parent
        return subnet, child

    def _allocate_dynamic(self, state: State, space: Space) -> Prefix:
        scope, version = space.scope, int(space.kind[-1])
        excluded = self.config.exclude if scope == "local" else ()

        def taken(candidate: Prefix) -> bool:
            return space.overlaps_any(candidate) or any(candidate.overlaps(x) for x in excluded)

        found = round_robin(self.candidates[scope], state.round_robin[scope], version, taken)
        if found is None:
            raise error(COMPAT, "no_default_pool", version=version)
        subnet, index = found
        state.set_round_robin(scope, index)
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
