"""Sparse sets of host offsets: what the default IPAM keeps as bitmaps, kept as runs.

Theory of operation. Docker keeps one bitmap per allocated subnet (split into 2^63-bit bitmaps
for IPv6 /64 and wider, PROTOCOL.md 6.5). A bitmap of 2^hostbits bits would make a 10.0.0.0/8
cost 2 MiB and an IPv6 /64 impossible, so here the used offsets are a ``RunSet``: sorted,
disjoint, never-adjacent runs ``[start, end]`` searched with ``bisect``. Memory follows the
number of runs (what is allocated and how fragmented it is), not the pool size. Because runs
never touch, the lowest free offset at or after ``x`` is either ``x`` or one past the run that
holds ``x``: one binary search, so filling a /16 one address at a time stays O(log n) per call.

``AddressSet`` adds Docker's per-bitmap cursor (``curr``) that the serial (round-robin) search
starts from, and the block size that decides which bitmap a dynamic allocation may use.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .prefix import Prefix


class RunSet:
    """A set of non-negative integers stored as sorted, disjoint, non-adjacent runs."""

    __slots__ = ("_starts", "_ends", "_count")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._count = 0

    @classmethod
    def from_runs(cls, runs: Iterable[tuple[int, int]]) -> RunSet:
        """Rebuild from ``runs()`` output. Raises ValueError for unsorted or overlapping runs."""
        result = cls()
        for start, end in runs:
            if start < 0 or end < start or (result._ends and start <= result._ends[-1]):
                raise ValueError(f"run [{start}, {end}] is out of order or overlaps the one before")
            if result._ends and start == result._ends[-1] + 1:
                result._ends[-1] = end
            else:
                result._starts.append(start)
                result._ends.append(end)
            result._count += end - start + 1
        return result

    def __len__(self) -> int:
        return self._count

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int):
            return False
        i = bisect_right(self._starts, value) - 1
        return i >= 0 and value <= self._ends[i]

    def __iter__(self) -> Iterator[int]:
        for start, end in zip(self._starts, self._ends, strict=True):
            yield from range(start, end + 1)

    def runs(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))

    def add(self, value: int) -> bool:
        """Add ``value``; False if it was already present."""
        starts, ends = self._starts, self._ends
        i = bisect_right(starts, value) - 1
        if i >= 0 and value <= ends[i]:
            return False
        joins_left = i >= 0 and ends[i] == value - 1
        joins_right = i + 1 < len(starts) and starts[i + 1] == value + 1
        if joins_left and joins_right:
            ends[i] = ends[i + 1]
            del starts[i + 1], ends[i + 1]
        elif joins_left:
            ends[i] = value
        elif joins_right:
            starts[i + 1] = value
        else:
            starts.insert(i + 1, value)
            ends.insert(i + 1, value)
        self._count += 1
        return True

    def discard(self, value: int) -> bool:
        """Remove ``value``; False if it was not present."""
        starts, ends = self._starts, self._ends
        i = bisect_right(starts, value) - 1
        if i < 0 or value > ends[i]:
            return False
        start, end = starts[i], ends[i]
        if start == end:
            del starts[i], ends[i]
        elif value == start:
            starts[i] = value + 1
        elif value == end:
            ends[i] = value - 1
        else:
            ends[i] = value - 1
            starts.insert(i + 1, value + 1)
            ends.insert(i + 1, end)
        self._count -= 1
        return True

    def first_free(self, low: int, high: int) -> int | None:
        """The smallest integer in ``[low, high]`` not in the set, or None."""
        i = bisect_right(self._starts, low) - 1
        candidate = low if i < 0 or self._ends[i] < low else self._ends[i] + 1
        return candidate if candidate <= high else None

    def any_in(self, low: int, high: int) -> bool:
        """Whether some member lies in ``[low, high]`` (none when ``low > high``)."""
        if low > high:
            return False
        i = bisect_right(self._starts, high) - 1
        return i >= 0 and self._ends[i] >= low

    def count_in(self, low: int, high: int) -> int:
        """How many members lie in ``[low, high]`` (O(runs in the range))."""
        i = max(bisect_right(self._starts, low) - 1, 0)
        j = bisect_right(self._starts, high)
        return sum(
            max(0, min(self._ends[k], high) - max(self._starts[k], low) + 1) for k in range(i, j)
        )


@dataclass(frozen=True, kw_only=True)
class Sizing:
    """How one Docker generation sizes the bitmaps of a subnet (PROTOCOL.md 6.5 and 6.9).

    ``block_bits``: a bitmap covers at most 2^block_bits offsets (63 in v27+; a dynamic
    allocation only uses the bitmap of the first address asked for). ``size_cap``: the largest
    number of offsets a subnet has (≤v26 capped IPv6 /64 and wider at 2^64 - 1).
    ``reset_on_empty``: v27+ drops a bitmap that a release leaves empty, resetting its cursor.
    """

    block_bits: int
    size_cap: int | None
    reset_on_empty: bool

    def new_set(self, prefix: Prefix) -> AddressSet:
        size = prefix.size if self.size_cap is None else min(prefix.size, self.size_cap)
        block = min(size, 1 << self.block_bits)
        return AddressSet(size=size, block=block, reset_on_empty=self.reset_on_empty)


class AddressSet:
    """The used offsets of one subnet, with Docker's per-bitmap serial cursor."""

    __slots__ = ("size", "block", "reset_on_empty", "used", "cursors")

    def __init__(self, *, size: int, block: int, reset_on_empty: bool) -> None:
        self.size = size
        self.block = block
        self.reset_on_empty = reset_on_empty
        self.used = RunSet()
        self.cursors: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.used)

    def __contains__(self, offset: object) -> bool:
        return offset in self.used

    def block_of(self, offset: int) -> int:
        return offset // self.block

    def block_is_empty(self, block: int) -> bool:
        base = block * self.block
        return not self.used.any_in(base, base + self.block - 1)

    def find_free(self, block: int, start: int, end: int, *, serial: bool) -> int | None:
        """The offset a dynamic allocation takes from ``block``'s relative range [start, end].

        Docker's ``getAvailableFromCurrent``: serially, search from the cursor when it is past
        ``start`` and fall back to the lowest free offset; otherwise the lowest free offset.
        """
        base = block * self.block
        cursor = self.cursors.get(block, 0) if serial else 0
        if cursor != 0 and cursor > start:
            found = self.used.first_free(base + cursor, base + end)
            if found is not None:
                return found
        return self.used.first_free(base + start, base + end)
