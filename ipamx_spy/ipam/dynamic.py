"""Choosing a subnet for a dynamic ``RequestPool`` (no ``Pool`` given).

``first_fit`` is v27+'s ``allocatePredefinedPool`` step by step (PROTOCOL.md 6.4), including its
documented corner case: a small reserved prefix sorting after a larger allocated one that
contains it becomes ``prev``, and the block after it may overlap the larger one. It returns the
subnet and the position ``allocated`` gets it at (Go inserts at the merge iterator's index).

``round_robin`` is ≤v26's ``getPredefinedPool`` (6.9): walk the pre-split list starting at the
stored index, skip other families and anything taken, and store "index found + 1" (reset to 0,
not wrapped, when it runs past the end).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .predefined import PredefinedPool
from .prefix import Prefix

if TYPE_CHECKING:
    from .model import Space, State


class _Merge:
    """Go's mergeIter: walk two sorted lists as one; ties go to the first (allocated)."""

    def __init__(self, a: Sequence[Prefix], b: Sequence[Prefix]) -> None:
        self.a, self.b = a, b
        self.ia = self.ib = 0
        self.from_a = self._next_is_a()

    def get(self) -> Prefix | None:
        if self.ia + self.ib >= len(self.a) + len(self.b):
            return None
        return self.a[self.ia] if self.from_a else self.b[self.ib]

    def inc(self) -> None:
        if self.from_a:
            self.ia += 1
        else:
            self.ib += 1
        self.from_a = self._next_is_a()

    def _next_is_a(self) -> bool:
        if self.ia < len(self.a) and self.ib < len(self.b):
            return self.a[self.ia].key() <= self.b[self.ib].key()
        return self.ia < len(self.a)


def blocks_between(low: Prefix | None, high: Prefix, size: int) -> int:
    """ipbits.SubnetsBetween of the two addresses: whole /size blocks from ``low`` to ``high``."""
    if low is None or low.version != high.version or high.addr < low.addr:
        return 0
    shift = low.width - size
    return (high.addr >> shift) - (low.addr >> shift)


def block_after(prev: Prefix, size: int) -> Prefix | None:
    """netiputil.PrefixAfter: the /size block right after ``prev`` (None when it wraps to 0)."""
    step = 1 << (prev.width - min(prev.bits, size))
    addr = (prev.addr + step) % (1 << prev.width)
    if addr == 0:
        return None
    return Prefix(prev.version, addr, size).masked()


def first_fit(
    allocated: Sequence[Prefix],
    reserved: Sequence[Prefix],
    predefined: Sequence[PredefinedPool],
) -> tuple[Prefix, int] | None:
    """The v27+ pick, and where to insert it in ``allocated``; None when all are used up."""
    it = _Merge(allocated, reserved)
    index, partial, prev = 0, False, None
    while (item := it.get()) is not None:
        if index >= len(predefined):
            return None
        pool = predefined[index]
        if item.overlaps(pool.base):
            if item.bits <= pool.base.bits:
                index, partial, prev = index + 1, False, None
                continue
            if not partial and blocks_between(pool.first_block(), item, pool.size) >= 1:
                return pool.first_block(), it.ia
            after = block_after(prev, pool.size) if partial and prev is not None else None
            if after is not None and blocks_between(after, item, pool.size) >= 1:
                return after, it.ia
            it.inc()
            if item.last == pool.base.last:
                index, partial, prev = index + 1, False, None
                continue
            partial, prev = True, item
            continue
        if partial and prev is not None:
            partial = False
            following = block_after(prev, pool.size)
            if following is not None and pool.base.overlaps(following):
                return following, it.ia
            index += 1
            continue
        if (pool.base.version, pool.base.addr) < (item.version, item.addr):
            return Prefix(pool.base.version, pool.base.addr, pool.size), it.ia
        it.inc()
        prev = item
    return _after_last(predefined, index, partial, prev, it.ia)


def _after_last(
    predefined: Sequence[PredefinedPool], index: int, partial: bool, prev: Prefix | None,
    position: int,
) -> tuple[Prefix, int] | None:
    if index >= len(predefined):
        return None
    if partial and prev is not None:
        following = block_after(prev, predefined[index].size)
        if following is not None and predefined[index].base.overlaps(following):
            return following, position
        index += 1
    if index < len(predefined):
        return predefined[index].first_block(), position
    return None


def round_robin(
    candidates: Sequence[Prefix],
    stored_index: int,
    version: int,
    taken: Callable[[Prefix], bool],
) -> tuple[Prefix, int] | None:
    """The ≤v26 pick and the new stored index; None when every candidate is taken."""
    total = len(candidates)
    start = stored_index if stored_index < total else 0
    for step in range(total):
        candidate = candidates[(start + step) % total]
        if candidate.version != version or taken(candidate):
            continue
        new_index = stored_index + step + 1
        return candidate, (0 if new_index >= total else new_index)
    return None


def take_round_robin(state: State, space: Space, candidates: Sequence[Prefix],
                     excluded: Sequence[Prefix]) -> Prefix | None:
    """The ≤v26 pick for ``space`` (skipping what it holds and what ``excluded`` overlaps),
    with the stored index of its scope moved on; None when every candidate is taken."""
    def taken(candidate: Prefix) -> bool:
        return space.overlaps_any(candidate) or any(candidate.overlaps(x) for x in excluded)

    found = round_robin(candidates, state.round_robin[space.scope], int(space.kind[-1]), taken)
    if found is None:
        return None
    subnet, index = found
    state.set_round_robin(space.scope, index)
    return subnet
