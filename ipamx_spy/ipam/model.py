"""The allocator's data: four address spaces of pools, and the only code that changes them.

Theory of operation. Every change to the data goes through one of the ``State`` primitives
below (create or drop a pool, set its metadata, mark or unmark an address, add or drop a ≤v26
sub-pool, move the ≤v26 round-robin index). Inside a transaction each primitive logs a *change*
(a JSON-able list, the redo record the state store journals) and an undo closure, so a request
that fails half-way, or whose journal write fails, leaves the data exactly as it was. ``apply``
replays a change record through the same primitives; a snapshot plus the journal of changes
after it therefore rebuilds the same data, whatever the generation's algorithms would choose now.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .addrset import AddressSet, Sizing
from .config import Scope
from .prefix import Prefix, parse_prefix

JSON = Any
Change = list[JSON]
Undo = Callable[[], None]

SCOPES = tuple(Scope)
KINDS = ("local4", "local6", "global4", "global6")
LEASE_FIELDS = ("offset", "time", "pool_id", "gateway", "endpoint", "mac")


def kind_of(scope: Scope, version: int) -> str:
    return f"{scope}{version}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """Who asked for an address and when (ipamx-spy's record; Docker keeps none)."""

    time: float
    pool_id: str
    gateway: bool = False
    endpoint: str = ""
    mac: str = ""

    def to_json(self, offset: int) -> list[JSON]:
        return [offset, self.time, self.pool_id, self.gateway, self.endpoint, self.mac]

    @classmethod
    def from_json(cls, row: list[JSON]) -> tuple[int, Lease]:
        offset, time, pool_id, gateway, endpoint, mac = row
        lease = cls(time=float(time), pool_id=str(pool_id), gateway=bool(gateway),
                    endpoint=str(endpoint), mac=str(mac))
        return int(offset), lease


class Pool:
    """One allocated master/parent subnet and its address set (PROTOCOL.md 6.3, 6.5).

    ``children`` and ``auto_release`` are v27+'s sub-pool bookkeeping; ``refcount`` is ≤v23's.
    """

    __slots__ = ("prefix", "text", "addrs", "leases", "children", "auto_release", "refcount")

    def __init__(self, prefix: Prefix, addrs: AddressSet) -> None:
        self.prefix = prefix
        self.text = str(prefix)
        self.addrs = addrs
        self.leases: dict[int, Lease] = {}
        self.children: frozenset[Prefix] = frozenset()
        self.auto_release = False
        self.refcount = 0

    def meta(self) -> tuple[frozenset[Prefix], bool, int]:
        return (self.children, self.auto_release, self.refcount)


@dataclass(frozen=True, kw_only=True)
class SubPool:
    """A ≤v23 sub-pool: its own key (raw ``SubPool`` text), parent, and offset range."""

    key: str
    raw: str
    parent: Prefix
    start: int
    end: int


@dataclass(eq=False)
class Space:
    """One of local4, local6, global4, global6."""

    kind: str
    allocated: list[Prefix] = field(default_factory=list)
    pools: dict[Prefix, Pool] = field(default_factory=dict)
    subpools: dict[str, SubPool] = field(default_factory=dict)
    unsorted: bool = False

    @property
    def scope(self) -> Scope:
        return Scope(self.kind[:-1])

    def insertion_index(self, prefix: Prefix) -> int:
        return bisect_left(self.allocated, prefix.key(), key=Prefix.key)

    def position(self, prefix: Prefix) -> int | None:
        """Where Go's binary search finds ``prefix`` in ``allocated`` (None: not found)."""
        i = self.insertion_index(prefix)
        return i if i < len(self.allocated) and self.allocated[i] == prefix else None

    def overlaps_any(self, prefix: Prefix) -> bool:
        """Whether ``prefix`` shares an address with an allocated subnet of this space."""
        if self.unsorted:
            return any(p.overlaps(prefix) for p in self.allocated)
        i = bisect_left(self.allocated, (prefix.version, prefix.first, -1), key=Prefix.key)
        if i < len(self.allocated) and self.allocated[i].version == prefix.version \
                and self.allocated[i].addr <= prefix.last:
            return True
        # a subnet starting before ``prefix`` overlaps it only by containing its first address
        for bits in range(prefix.bits + 1):
            if Prefix(prefix.version, prefix.first, bits).masked() in self.pools:
                return True
        return False


@dataclass
class Transaction:
    """The change records of the requests under way (read by the state store)."""

    log: list[tuple[Change, Undo]] = field(default_factory=list)

    @property
    def changes(self) -> list[Change]:
        return [change for change, _undo in self.log]


class State:
    """The four spaces plus the round-robin indices, changed only by the primitives."""

    def __init__(self, sizing: Sizing) -> None:
        self.sizing = sizing
        self.spaces = {kind: Space(kind) for kind in KINDS}
        self.round_robin = dict.fromkeys(SCOPES, 0)
        self._txn: Transaction | None = None

    # -- transactions ----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Group changes; an exception inside undoes them (nested blocks undo their own part)."""
        outer = self._txn is None
        if self._txn is None:
            self._txn = Transaction()
        txn = self._txn
        mark = len(txn.log)
        try:
            yield txn
        except BaseException:
            while len(txn.log) > mark:
                txn.log.pop()[1]()
            raise
        finally:
            if outer:
                self._txn = None

    def _record(self, change: Change, undo: Undo) -> None:
        if self._txn is not None:
            self._txn.log.append((change, undo))

    # -- primitives ------------------------------------------------------------------------

    def add_pool(self, space: Space, prefix: Prefix, index: int) -> Pool:
        """Insert ``prefix`` at ``index`` of ``allocated`` with a new, empty address set."""
        previous = space.pools.get(prefix)
        pool = Pool(prefix, self.sizing.new_set(prefix))
        space.allocated.insert(index, prefix)
        space.pools[prefix] = pool
        if not sorted_around(space.allocated, index):
            space.unsorted = True

        def undo() -> None:
            del space.allocated[index]
            if previous is None:
                del space.pools[prefix]
            else:
                space.pools[prefix] = previous

        self._record(["pool+", space.kind, str(prefix), index], undo)
        return pool

    def drop_pool(self, space: Space, prefix: Prefix) -> None:
        """Forget ``prefix`` and its addresses (Go's deallocate: only if its search finds it)."""
        index = space.position(prefix)
        if index is None:
            return
        pool = space.pools.pop(prefix)
        del space.allocated[index]

        def undo() -> None:
            space.allocated.insert(index, prefix)
            space.pools[prefix] = pool

        self._record(["pool-", space.kind, str(prefix)], undo)

    def set_meta(
        self,
        space: Space,
        pool: Pool,
        *,
        children: frozenset[Prefix] | None = None,
        auto_release: bool | None = None,
        refcount: int | None = None,
    ) -> None:
        old = pool.meta()
        pool.children = old[0] if children is None else children
        pool.auto_release = old[1] if auto_release is None else auto_release
        pool.refcount = old[2] if refcount is None else refcount

        def undo() -> None:
            pool.children, pool.auto_release, pool.refcount = old

        children_text = sorted((str(c) for c in pool.children), key=text_key)
        self._record(["meta", space.kind, pool.text, children_text, pool.auto_release,
                      pool.refcount], undo)

    def mark(self, space: Space, pool: Pool, offset: int, lease: Lease | None,
             cursor: tuple[int, int] | None = None) -> bool:
        """Set ``offset`` (False if it already was); ``cursor`` = (block, new curr) if dynamic."""
        addrs = pool.addrs
        if not addrs.used.add(offset):
            return False
        old_cursor = None if cursor is None else addrs.cursors.get(cursor[0])
        if cursor is not None:
            addrs.cursors[cursor[0]] = cursor[1]
        if lease is not None:
            pool.leases[offset] = lease

        def undo() -> None:
            addrs.used.discard(offset)
            pool.leases.pop(offset, None)
            if cursor is not None:
                _restore(addrs.cursors, cursor[0], old_cursor)

        block, value = cursor if cursor is not None else (None, None)
        self._record(["addr+", space.kind, pool.text, offset,
                      None if lease is None else lease.to_json(offset)[1:], block, value], undo)
        return True

    def unmark(self, space: Space, pool: Pool, offset: int) -> bool:
        """Clear ``offset`` and its lease; v27+ resets the cursor of a block left empty."""
        addrs = pool.addrs
        if not addrs.used.discard(offset):
            return False
        lease = pool.leases.pop(offset, None)
        block = addrs.block_of(offset)
        old_cursor = addrs.cursors.get(block)
        if addrs.reset_on_empty and addrs.block_is_empty(block):
            addrs.cursors.pop(block, None)

        def undo() -> None:
            addrs.used.add(offset)
            if lease is not None:
                pool.leases[offset] = lease
            _restore(addrs.cursors, block, old_cursor)

        self._record(["addr-", space.kind, pool.text, offset], undo)
        return True

    def add_subpool(self, space: Space, sub: SubPool) -> None:
        space.subpools[sub.key] = sub

        def undo() -> None:
            del space.subpools[sub.key]

        self._record(["sub+", space.kind, sub.raw, str(sub.parent), sub.start, sub.end], undo)

    def drop_subpool(self, space: Space, key: str) -> None:
        sub = space.subpools.pop(key)

        def undo() -> None:
            space.subpools[key] = sub

        self._record(["sub-", space.kind, key], undo)

    def set_round_robin(self, scope: Scope, index: int) -> None:
        old = self.round_robin[scope]
        self.round_robin[scope] = index

        def undo() -> None:
            self.round_robin[scope] = old

        self._record(["rr", scope, index], undo)

    # -- replay ----------------------------------------------------------------------------

    def apply(self, change: Change) -> None:
        """Replay one change record. Raises ValueError/KeyError/TypeError on a bad record."""
        _REPLAY[change[0]](self, change)

    def pool(self, kind: str, text: str) -> tuple[Space, Pool]:
        space = self.spaces[kind]
        return space, space.pools[prefix_of(text)]


def sorted_around(items: list[Prefix], index: int) -> bool:
    key = items[index].key()
    before = index == 0 or items[index - 1].key() <= key
    after = index + 1 == len(items) or key <= items[index + 1].key()
    return before and after


def _restore(cursors: dict[int, int], block: int, value: int | None) -> None:
    if value is None:
        cursors.pop(block, None)
    else:
        cursors[block] = value


def text_key(text: str) -> tuple[int, int, int]:
    return prefix_of(text).key()


def prefix_of(text: str) -> Prefix:
    prefix = parse_prefix(text)
    if prefix is None:
        raise ValueError(f"{text!r} is not a prefix")
    return prefix


def _replay_add_pool(state: State, c: Change) -> None:
    state.add_pool(state.spaces[c[1]], prefix_of(c[2]), int(c[3]))


def _replay_drop_pool(state: State, c: Change) -> None:
    state.drop_pool(state.spaces[c[1]], prefix_of(c[2]))


def _replay_meta(state: State, c: Change) -> None:
    space, pool = state.pool(c[1], c[2])
    state.set_meta(space, pool, children=frozenset(prefix_of(t) for t in c[3]),
                   auto_release=bool(c[4]), refcount=int(c[5]))


def _replay_mark(state: State, c: Change) -> None:
    space, pool = state.pool(c[1], c[2])
    lease = None if c[4] is None else Lease.from_json([c[3], *c[4]])[1]
    cursor = None if c[5] is None else (int(c[5]), int(c[6]))
    state.mark(space, pool, int(c[3]), lease, cursor)


def _replay_unmark(state: State, c: Change) -> None:
    space, pool = state.pool(c[1], c[2])
    state.unmark(space, pool, int(c[3]))


def _replay_add_subpool(state: State, c: Change) -> None:
    parent = prefix_of(c[3])
    state.add_subpool(state.spaces[c[1]], SubPool(key=f"{parent}/{c[2]}", raw=str(c[2]),
                                                  parent=parent, start=int(c[4]), end=int(c[5])))


def _replay_drop_subpool(state: State, c: Change) -> None:
    state.drop_subpool(state.spaces[c[1]], str(c[2]))


def _replay_round_robin(state: State, c: Change) -> None:
    if c[1] not in state.round_robin:
        raise ValueError(f"unknown scope {c[1]!r}")
    state.set_round_robin(Scope(c[1]), int(c[2]))


_REPLAY: dict[str, Callable[[State, Change], None]] = {
    "pool+": _replay_add_pool,
    "pool-": _replay_drop_pool,
    "meta": _replay_meta,
    "addr+": _replay_mark,
    "addr-": _replay_unmark,
    "sub+": _replay_add_subpool,
    "sub-": _replay_drop_subpool,
    "rr": _replay_round_robin,
}
