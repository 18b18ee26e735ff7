"""Docker v27+'s default IPAM (``ipams/defaultipam``): first fit, sub-pools share a parent.

Every check below runs in the order of the Go code, because the order decides which error a
request gets (PROTOCOL.md 6.2-6.8). Pool IDs are ``<space>/<subnet>[/<child>]``, both prefixes
canonical; a pool ID is parsed without masking, so a non-canonical one finds no pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .addrset import Sizing
from .config import IpamConfig, Scope
from .dynamic import first_fit
from .errors import IpamError, error, text
from .model import SCOPES, Pool, Space, State, kind_of
from .predefined import of_family, sorted_unique
from .prefix import Addr, Prefix, go_quote, parse_addr, parse_prefix
from .requests import AddressRequest, AllocatedPool, PoolRequest, preferred_address

COMPAT = "27"
SIZING = Sizing(block_bits=63, size_cap=None, reset_on_empty=True)


@dataclass(frozen=True)
class PoolKey:
    """A parsed v27+ pool ID (``PoolIDFromString``); prefixes as written, not masked."""

    space: str
    subnet: Prefix
    child: Prefix | None

    @property
    def child_text(self) -> str:
        """How Go prints the child: a zero ``netip.Prefix`` is ``invalid Prefix``."""
        return "invalid Prefix" if self.child is None else str(self.child)

    @classmethod
    def parse(cls, pool_id: str) -> PoolKey:
        key = _parse_key(pool_id)
        if key is None:
            raise error(COMPAT, "invalid_pool_id", pool_id=pool_id)
        return key


@lru_cache(maxsize=4096)
def _parse_key(pool_id: str) -> PoolKey | None:
    """``PoolIDFromString`` (cached: dockerd repeats the same few pool IDs)."""
    parts = pool_id.split("/") if pool_id else []
    subnet = parse_prefix("/".join(parts[1:3])) if len(parts) in (3, 5) else None
    child = parse_prefix("/".join(parts[3:5])) if len(parts) == 5 else None
    if subnet is None or (len(parts) == 5 and child is None):
        return None
    return PoolKey(parts[0], subnet, child)


def pool_id(space: str, subnet: Prefix, child: Prefix | None = None) -> str:
    return f"{space}/{subnet}" if child is None else f"{space}/{subnet}/{child}"


class Gen27:
    """The v27+ allocator (``compat="27"``)."""

    compat = COMPAT
    sizing = SIZING

    def __init__(self, config: IpamConfig) -> None:
        self.config = config
        self.predefined = {
            kind_of(scope, v): sorted_unique(of_family(config.predefined(scope), v))
            for scope in SCOPES for v in (4, 6)
        }
        self.reserved = {
            kind_of(scope, v): tuple(sorted(
                (p for p in config.exclude if p.version == v and scope is Scope.LOCAL),
                key=Prefix.key))
            for scope in SCOPES for v in (4, 6)
        }

    # -- pools -----------------------------------------------------------------------------

    def request_pool(self, state: State, request: PoolRequest) -> AllocatedPool:
        """PROTOCOL.md 6.3: validate, then a dynamic (6.4) or a static allocation."""
        name = request.address_space
        if not name:
            raise self._parse_error(request, "invalid_space")
        space = self._space(state, name, request.v6)
        if not request.pool and request.sub_pool:
            raise self._parse_error(request, "invalid_subpool")
        if not request.pool:
            subnet = self._allocate_dynamic(state, space)
            return AllocatedPool(pool_id=pool_id(name, subnet), pool=str(subnet))
        subnet, child = self._parse_static(request)
        self._allocate_subnet(state, space, subnet, child)
        return AllocatedPool(pool_id=pool_id(name, subnet, child), pool=str(subnet))

    def _parse_error(self, request: PoolRequest, key: str) -> IpamError:
        return error(self.compat, "parse_pool", space=go_quote(request.address_space),
                     pool=go_quote(request.pool), sub=go_quote(request.sub_pool),
                     reason=text(self.compat, key))

    def _space(self, state: State, name: str, v6: bool) -> Space:
        scope = self.config.scope_of(name)
        if scope is None:
            raise error(COMPAT, "unknown_space", space=name)
        return state.spaces[kind_of(scope, 6 if v6 else 4)]

    def _parse_static(self, request: PoolRequest) -> tuple[Prefix, Prefix | None]:
        subnet = parse_prefix(request.pool)
        if subnet is None:
            raise self._parse_error(request, "invalid_pool")
        child = None
        if request.sub_pool:
            child = parse_prefix(request.sub_pool)
            if child is None:
                raise self._bad_sub_pool(request)
            self._check_families(subnet, child)
            child = child.masked()
        subnet = subnet.masked()
        if child is not None and child.bits < subnet.bits:
            child = subnet  # pre-v24 networks: a child bigger than its parent means the parent
        return subnet, child

    def _bad_sub_pool(self, request: PoolRequest) -> IpamError:
        return error(COMPAT, "subpool_request")

    def _check_families(self, subnet: Prefix, child: Prefix) -> None:
        if child.version != subnet.version:
            raise error(COMPAT, "families")

    def _allocate_dynamic(self, state: State, space: Space) -> Prefix:
        found = first_fit(space.allocated, self.reserved[space.kind], self.predefined[space.kind])
        if found is None:
            raise error(COMPAT, "no_more_subnets")
        subnet, index = found
        self._create(state, space, subnet, index)
        return subnet

    def _allocate_subnet(self, state: State, space: Space, subnet: Prefix,
                         child: Prefix | None) -> None:
        """``allocateSubnet``, with moby#46756: a parent created for a child skips overlap."""
        pool = space.pools.get(subnet)
        if pool is not None and (child is None or child in pool.children):
            raise self._overlap()
        if child is None:
            if space.overlaps_any(subnet):
                raise self._overlap()
            self._create(state, space, subnet, space.insertion_index(subnet))
            return
        if pool is None:
            pool = self._create(state, space, subnet, space.insertion_index(subnet))
            state.set_meta(space, pool, auto_release=True)
        state.set_meta(space, pool, children=pool.children | {child})

    @staticmethod
    def _overlap() -> IpamError:
        return error(COMPAT, "pool_request", reason=text(COMPAT, "overlap"))

    @staticmethod
    def _create(state: State, space: Space, subnet: Prefix, index: int) -> Pool:
        """A new pool with its network (unless IPv4 /31, /32) and broadcast (IPv4) reserved."""
        pool = state.add_pool(space, subnet, index)
        if subnet.version == 6 or subnet.host_bits > 1:
            state.mark(space, pool, 0, None)
        if subnet.version == 4 and subnet.host_bits > 1:
            state.mark(space, pool, subnet.size - 1, None)
        return pool

    def release_pool(self, state: State, pool_id: str) -> None:
        """PROTOCOL.md 6.7: drop a child, or mark the parent; forget it once nothing is left."""
        key = PoolKey.parse(pool_id)
        space = self._space(state, key.space, key.subnet.version == 6)
        pool = space.pools.get(key.subnet)
        if pool is None or (key.child is not None and key.child not in pool.children):
            raise error(COMPAT, "bad_pool")
        if key.child is not None:
            state.set_meta(space, pool, children=pool.children - {key.child})
        else:
            state.set_meta(space, pool, auto_release=True)
        if not pool.children and pool.auto_release:
            state.drop_pool(space, key.subnet)

    def sub_pool_ids(self, space: Space, pool: Pool) -> list[str]:
        name = self.config.space_name(space.scope)
        return [pool_id(name, pool.prefix, c) for c in sorted(pool.children, key=Prefix.key)]

    # -- addresses -------------------------------------------------------------------------

    def request_address(self, state: State, request: AddressRequest) -> str:
        """PROTOCOL.md 6.6. Returns ``ip/<parent prefix length>``."""
        key = PoolKey.parse(request.pool_id)
        space = self._space(state, key.space, key.subnet.version == 6)
        preferred = preferred_address(COMPAT, request.address)
        pool = space.pools.get(key.subnet)
        if pool is None:
            raise self._no_pool("no_pool_for_id", key)
        if preferred is not None and not key.subnet.contains(preferred):
            raise error(COMPAT, "out_of_range")
        if key.child is not None and key.child not in pool.children:
            raise self._no_pool("no_pool_for_id", key)
        if preferred is not None:
            offset = preferred.value - pool.prefix.first
            if not state.mark(space, pool, offset, request.lease):
                raise error(COMPAT, "in_use")
        else:
            offset = self._take_any(state, space, pool, key.child, request)
        return f"{pool.prefix.at(offset)}/{key.subnet.bits}"

    @staticmethod
    def _no_pool(key_name: str, key: PoolKey) -> IpamError:
        return error(COMPAT, key_name, key=f"{key.subnet}/{key.child_text}")

    def _take_any(self, state: State, space: Space, pool: Pool, child: Prefix | None,
                  request: AddressRequest) -> int:
        """``AddAny``/``AddAnyInRange``: which bitmap and range a dynamic request searches."""
        addrs = pool.addrs
        block, start, end = 0, 0, addrs.block - 1
        if child is not None and child != pool.prefix:
            if not pool.prefix.contains(Addr(child.version, child.addr)):
                raise error(COMPAT, "range_outside", child=child, pool=pool.prefix)
            relative = child.first - pool.prefix.first
            block = addrs.block_of(relative)
            if child.size < addrs.block:
                start = relative - block * addrs.block
                end = start + child.size - 1
        offset = addrs.find_free(block, start, end, serial=request.serial)
        if offset is None:
            raise error(COMPAT, "no_ips")
        state.mark(space, pool, offset, request.lease, (block, offset - block * addrs.block + 1))
        return offset

    def release_address(self, state: State, pool_id: str, address: str) -> None:
        """PROTOCOL.md 6.7: a free address releases silently; a reserved one is cleared."""
        key = PoolKey.parse(pool_id)
        space = self._space(state, key.space, key.subnet.version == 6)
        parsed = parse_addr(address) if address else None
        if parsed is None:
            raise error(COMPAT, "bad_address")
        pool = space.pools.get(key.subnet)
        if pool is None:
            raise self._no_pool("no_pool_for", key)
        if key.child is not None and key.child not in pool.children:
            raise self._no_pool("no_pool_for_id", key)
        addr = parsed.unmap()
        if not key.subnet.contains(addr):
            raise error(COMPAT, "out_of_range")
        state.unmark(space, pool, addr.value - pool.prefix.first)
