"""Docker ≤v23's default IPAM (v20.10's ``libnetwork/ipam`` with ``bitseq``), from PROTOCOL.md 6.9.

What differs from v27+: dynamic pools come round-robin from the pre-split predefined list;
sub-pools are pool entries of their own, keyed by the **raw** ``SubPool`` text, with reference
counts (a sub-pool holds a reference on its parent, a parent created for a sub-pool starts at
one); offset 0 and the last offset are always reserved (so /31 and /32 have no usable address);
one bitmap of at most 2^64 - 1 bits whose cursor never resets; capitalised error texts. Pool
IDs are looked up as strings, so only the exact text the allocator handed out finds a pool.
"""

from __future__ import annotations

from dataclasses import dataclass

from .addrset import Sizing
from .config import IpamConfig, Scope
from .dynamic import take_round_robin
from .errors import IpamError, error, text
from .model import SCOPES, Pool, Space, State, SubPool, kind_of
from .predefined import SplitList
from .prefix import Addr, Prefix, go_quote, parse_addr, parse_canonical, parse_prefix
from .requests import AddressRequest, AllocatedPool, PoolRequest, preferred_address

COMPAT = "20.10"
SIZING = Sizing(block_bits=128, size_cap=(1 << 64) - 1, reset_on_empty=False)
LOW64 = (1 << 64) - 1


@dataclass(frozen=True)
class SubnetKey:
    """A ≤v23 ``SubnetKey``: three strings, nothing parsed."""

    space: str
    subnet: str
    child: str | None

    @classmethod
    def parse(cls, pool_id: str) -> SubnetKey:
        parts = pool_id.split("/")
        if not pool_id or len(parts) not in (3, 5):
            raise error(COMPAT, "invalid_pool_id", pool_id=pool_id)
        child = "/".join(parts[3:5]) if len(parts) == 5 else None
        return cls(parts[0], "/".join(parts[1:3]), child)


@dataclass(frozen=True)
class Found:
    """What a pool ID names: the space, the subnet addresses come from, and the records."""

    space: Space
    network: Prefix
    pool: Pool | None
    sub: SubPool | None


def host_offset(network: Prefix, addr: Addr) -> int:
    """``ipToUint64(GetHostPartIP(ip, mask))``: the host part, low 64 bits only."""
    return (addr.value - network.first) & LOW64


class Gen2010:
    """The ≤v23 allocator (``compat="20.10"``)."""

    compat = COMPAT
    sizing = SIZING

    def __init__(self, config: IpamConfig) -> None:
        self.config = config
        self.candidates = {scope: SplitList(config.predefined(scope)) for scope in SCOPES}

    # -- pools -----------------------------------------------------------------------------

    def request_pool(self, state: State, request: PoolRequest) -> AllocatedPool:
        name = request.address_space
        if not name:
            raise self._parse_error(request, text(COMPAT, "invalid_space"))
        if not request.pool and request.sub_pool:
            raise self._parse_error(request, text(COMPAT, "invalid_subpool"))
        if not request.pool:
            return self._allocate_dynamic(state, request)
        subnet, sub_range = self._parse_static(request)
        scope = self._scope(name)
        space = state.spaces[kind_of(scope, subnet.version)]
        if sub_range is None:
            self._allocate_master(state, space, subnet)
            return AllocatedPool(pool_id=f"{name}/{subnet}", pool=str(subnet))
        self._allocate_sub(state, space, subnet, request.sub_pool, sub_range)
        return AllocatedPool(pool_id=f"{name}/{subnet}/{request.sub_pool}", pool=str(subnet))

    def _parse_error(self, request: PoolRequest, reason: str) -> IpamError:
        return error(COMPAT, "parse_pool", space=go_quote(request.address_space),
                     pool=go_quote(request.pool), sub=go_quote(request.sub_pool), reason=reason)

    def _scope(self, name: str) -> Scope:
        scope = self.config.scope_of(name)
        if scope is None:
            raise error(COMPAT, "unknown_space", space=name)
        return scope

    def _parse_static(self, request: PoolRequest) -> tuple[Prefix, tuple[int, int] | None]:
        """``parsePoolRequest`` + ``getAddressRange``: the subnet and the sub-pool's offsets."""
        subnet = parse_prefix(request.pool)
        if subnet is None:
            raise self._parse_error(request, text(COMPAT, "invalid_pool"))
        subnet = subnet.masked()
        if not request.sub_pool:
            return subnet, None
        child = parse_prefix(request.sub_pool)
        if child is None:
            raise self._parse_error(request, text(COMPAT, "invalid_subpool"))
        if child.version != subnet.version:
            raise self._parse_error(request, text(COMPAT, "families", sub=child.masked(),
                                                  pool=subnet))
        host = subnet.size - 1
        return subnet, ((child.first & host) & LOW64, (child.last & host) & LOW64)

    def _allocate_dynamic(self, state: State, request: PoolRequest) -> AllocatedPool:
        scope = self.config.scope_of(request.address_space)
        if scope is None:
            raise error(COMPAT, "non_default_space")
        version = 6 if request.v6 else 4
        space = state.spaces[kind_of(scope, version)]
        excluded = self.config.exclude if scope is Scope.LOCAL else ()
        subnet = take_round_robin(state, space, self.candidates[scope], excluded)
        if subnet is None:
            raise error(COMPAT, "no_default_pool", version=version)
        pool = self._create(state, space, subnet)
        state.set_meta(space, pool, refcount=1)
        return AllocatedPool(pool_id=f"{request.address_space}/{subnet}", pool=str(subnet))

    def _allocate_master(self, state: State, space: Space, subnet: Prefix) -> None:
        if subnet in space.pools or space.overlaps_any(subnet):
            raise error(COMPAT, "overlap")
        state.set_meta(space, self._create(state, space, subnet), refcount=1)

    def _allocate_sub(self, state: State, space: Space, subnet: Prefix, raw: str,
                      sub_range: tuple[int, int]) -> None:
        """A sub-pool entry, and a reference on its parent (created, unchecked, if missing)."""
        key = f"{subnet}/{raw}"
        if key in space.subpools:
            raise error(COMPAT, "overlap")
        start, end = sub_range
        state.add_subpool(space, SubPool(key=key, raw=raw, parent=subnet, start=start, end=end))
        parent = space.pools.get(subnet)
        if parent is None:
            state.set_meta(space, self._create(state, space, subnet), refcount=1)
        else:
            state.set_meta(space, parent, refcount=parent.refcount + 1)

    @staticmethod
    def _create(state: State, space: Space, subnet: Prefix) -> Pool:
        """``insertBitMask``: offset 0 and (IPv4) the last offset are always reserved."""
        pool = state.add_pool(space, subnet, space.insertion_index(subnet))
        state.mark(space, pool, 0, None)
        if subnet.version == 4:
            state.mark(space, pool, pool.addrs.size - 1, None)
        return pool

    def release_pool(self, state: State, pool_id: str) -> None:
        """Drop one reference; a record whose count reaches zero goes, with its addresses."""
        key = SubnetKey.parse(pool_id)
        found = self._find(state, key)
        if found is None:
            raise error(COMPAT, "bad_pool")
        space, parent = found.space, found.pool
        if found.sub is not None:
            state.drop_subpool(space, found.sub.key)
            parent = space.pools.get(found.sub.parent)
        if parent is not None:
            state.set_meta(space, parent, refcount=parent.refcount - 1)
            if parent.refcount <= 0:
                state.drop_pool(space, parent.prefix)

    def _find(self, state: State, key: SubnetKey) -> Found | None:
        scope = self._scope(key.space)
        subnet = parse_canonical(key.subnet)
        if subnet is None:
            return None
        space = state.spaces[kind_of(scope, subnet.version)]
        if key.child is None:
            pool = space.pools.get(subnet)
            return None if pool is None else Found(space, subnet, pool, None)
        sub = space.subpools.get(f"{key.subnet}/{key.child}")
        return None if sub is None else Found(space, subnet, None, sub)

    def sub_pool_ids(self, space: Space, pool: Pool) -> list[str]:
        name = self.config.space_name(space.scope)
        return [f"{name}/{sub.key}" for sub in space.subpools.values() if sub.parent == pool.prefix]

    # -- addresses -------------------------------------------------------------------------

    def request_address(self, state: State, request: AddressRequest) -> str:
        key = SubnetKey.parse(request.pool_id)
        found = self._find(state, key)
        if found is None:
            raise error(COMPAT, "no_pool_for_id", key=request.pool_id)
        preferred = preferred_address(COMPAT, request.address)
        if preferred is not None and not found.network.contains(preferred):
            raise error(COMPAT, "out_of_range")
        pool = self._parent(found)
        addrs = pool.addrs
        if addrs.size - len(addrs) <= 0:
            raise error(COMPAT, "no_ips")
        if preferred is not None:
            offset = self._offset(found.network, preferred, pool)
            if not state.mark(found.space, pool, offset, request.lease):
                raise error(COMPAT, "in_use")
        else:
            start, end = (0, addrs.size - 1) if found.sub is None \
                else (found.sub.start, found.sub.end)
            if end < start or end >= addrs.size:
                raise error(COMPAT, "bad_range", start=start, end=end)
            offset = self._take_any(state, found.space, pool, start, end, request)
        return f"{found.network.at(offset)}/{found.network.bits}"

    @staticmethod
    def _offset(network: Prefix, addr: Addr, pool: Pool) -> int:
        offset = host_offset(network, addr)
        if offset >= pool.addrs.size:
            raise error(COMPAT, "not_in_sequence")
        return offset

    @staticmethod
    def _take_any(state: State, space: Space, pool: Pool, start: int, end: int,
                  request: AddressRequest) -> int:
        offset = pool.addrs.find_free(0, start, end, serial=request.serial)
        if offset is None:
            raise error(COMPAT, "no_ips")
        state.mark(space, pool, offset, request.lease, (0, offset + 1))
        return offset

    def _parent(self, found: Found) -> Pool:
        if found.pool is not None:
            return found.pool
        assert found.sub is not None
        parent = found.space.pools.get(found.sub.parent)
        if parent is None:
            name = self.config.space_name(found.space.scope)
            raise error(COMPAT, "orphan", key=f"{name}/{found.sub.parent}")
        return parent

    def release_address(self, state: State, pool_id: str, address: str) -> None:
        key = SubnetKey.parse(pool_id)
        found = self._find(state, key)
        if found is None:
            raise error(COMPAT, "no_pool_for_id", key=pool_id)
        parsed = parse_addr(address) if address else None
        if parsed is None:
            raise error(COMPAT, "bad_address")
        addr = parsed.unmap()
        if not found.network.contains(addr):
            raise error(COMPAT, "out_of_range")
        pool = self._parent(found)
        state.unmark(found.space, pool, self._offset(found.network, addr, pool))
