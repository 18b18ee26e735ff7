"""A bounded memo for hot paths that see the same few values again and again (the heads,
endpoint names and addresses of a session)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    """``memo[key]`` is ``make(key)``, made once and kept; emptied when it holds ``limit``
    keys (what a session repeats comes back at once). A hit costs a dict's lookup, with none
    of ``functools.lru_cache``'s bookkeeping; ``make`` must be a pure function of the key."""

    __slots__ = ("_make", "_limit")

    def __init__(self, make: Callable[[K], V], limit: int) -> None:
        super().__init__()
        self._make = make
        self._limit = limit

    def __missing__(self, key: K) -> V:
        if len(self) >= self._limit:
            self.clear()
        value = self[key] = self._make(key)
        return value
