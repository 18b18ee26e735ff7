"""Predefined ("default address") pools: Docker's lists, the host ULA, sorting and splitting.

PROTOCOL.md 6.1: a predefined pool is a base prefix handed out in blocks of ``size``. v27+
sorts each family's list and drops entries that overlap an earlier one; ≤v26 pre-split the list,
in the configured order, into concrete subnets and walked them round-robin (6.9). ``SplitList``
is that pre-split list without materialising it: 10.0.0.0/8 in /24s is 65 536 subnets, computed
on demand by index.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import overload

from .errors import ConfigError
from .prefix import Prefix, parse_prefix


@dataclass(frozen=True, kw_only=True)
class PredefinedPool:
    """A base prefix split into blocks of ``size`` (dockerd's ``base=…,size=…``)."""

    base: Prefix
    size: int

    def __post_init__(self) -> None:
        if self.base.addr != self.base.first:
            raise ConfigError(f"predefined pool {self.base} has host bits set; "
                              f"write it as {self.base.masked()}")
        if not self.base.bits <= self.size <= self.base.width:
            raise ConfigError(
                f"predefined pool {self.base}: size /{self.size} must be between the base "
                f"prefix length /{self.base.bits} and /{self.base.width}"
            )

    @property
    def count(self) -> int:
        """How many blocks the pool splits into."""
        return 1 << (self.size - self.base.bits)

    def block(self, index: int) -> Prefix:
        step = 1 << (self.base.width - self.size)
        return Prefix(self.base.version, self.base.first + index * step, self.size)

    def first_block(self) -> Prefix:
        return self.block(0)

    def to_json(self) -> dict[str, object]:
        return {"Base": str(self.base), "Size": self.size}

    def __str__(self) -> str:
        return f"base={self.base},size={self.size}"

    @classmethod
    def parse(cls, text: str) -> PredefinedPool:
        """Parse ``base=CIDR,size=N`` (dockerd's syntax), ``CIDR:N`` or ``CIDR`` (one block).

        Raises ConfigError naming the text when it is none of these.
        """
        base_text, size_text = _split_spec(text.replace(" ", ""))
        base = parse_prefix(base_text)
        if base is None:
            raise ConfigError(f"predefined pool {text!r}: expected base=CIDR,size=N")
        if size_text is None:
            return cls(base=base, size=base.bits)
        if not size_text.isdigit():
            raise ConfigError(f"predefined pool {text!r}: size must be a prefix length")
        return cls(base=base, size=int(size_text))


def _split_spec(text: str) -> tuple[str, str | None]:
    if "=" in text:
        fields: dict[str, str] = {}
        for number, part in enumerate(text.split(",")):
            key, sep, value = part.partition("=")
            if not sep and number == 0:
                key, value = "base", part
            if key not in {"base", "size"}:
                raise ConfigError(f"predefined pool {text!r}: unknown field {key!r}")
            fields[key] = value
        return fields.get("base", ""), fields.get("size")
    head, sep, tail = text.rpartition(":")
    if sep and "/" in head and tail.isdigit():
        return head, tail
    return text, None


def _pool(base: str, size: int) -> PredefinedPool:
    prefix = parse_prefix(base)
    assert prefix is not None
    return PredefinedPool(base=prefix, size=size)


# ipamutils.localScopeDefaultNetworks and globalScopeDefaultNetworks (PROTOCOL.md 6.1).
LOCAL_DEFAULTS: tuple[PredefinedPool, ...] = (
    _pool("172.17.0.0/16", 16), _pool("172.18.0.0/16", 16), _pool("172.19.0.0/16", 16),
    _pool("172.20.0.0/14", 16), _pool("172.24.0.0/14", 16), _pool("172.28.0.0/14", 16),
    _pool("192.168.0.0/16", 20),
)
GLOBAL_DEFAULTS: tuple[PredefinedPool, ...] = (_pool("10.0.0.0/8", 24),)


def ula_pool(engine_id: str) -> PredefinedPool:
    """The host's ULA /48 in /64s: fd00::/8 + the low 40 bits of sha256(engine id)'s first 8 bytes.

    dockerd's ``deriveULABaseNetwork`` (PROTOCOL.md 6.1). Given the content of dockerd's
    ``<data-root>/engine-id`` it yields the same prefix dockerd v27+ would use.
    """
    digest = hashlib.sha256(engine_id.encode("utf-8")).digest()
    global_id = int.from_bytes(digest[:8], "big") & ((1 << 40) - 1)
    base = (0xFD << 120) | (global_id << 80)
    return PredefinedPool(base=Prefix(6, base, 48), size=64)


def with_ula(pools: Sequence[PredefinedPool], engine_id: str) -> tuple[PredefinedPool, ...]:
    """v27+: append the ULA pool when no (non IPv4-mapped) IPv6 entry is configured."""
    has_v6 = any(p.base.version == 6 and p.base.first >> 32 != 0xFFFF for p in pools)
    return tuple(pools) if has_v6 else (*pools, ula_pool(engine_id))


def sorted_unique(pools: Iterable[PredefinedPool]) -> tuple[PredefinedPool, ...]:
    """v27+ ``newAddrSpace``: sort by (address, length), drop entries overlapping a kept one."""
    kept: list[PredefinedPool] = []
    for pool in sorted(pools, key=lambda p: p.base.key()):
        if kept and kept[-1].base.overlaps(pool.base):
            continue
        kept.append(pool)
    return tuple(kept)


def of_family(pools: Iterable[PredefinedPool], version: int) -> tuple[PredefinedPool, ...]:
    return tuple(p for p in pools if p.base.version == version)


class SplitList(Sequence[Prefix]):
    """The ≤v26 pre-split list: every block of every pool, in configured order, by index."""

    def __init__(self, pools: Sequence[PredefinedPool]) -> None:
        self._pools = tuple(pools)
        self._starts: list[int] = []
        total = 0
        for pool in self._pools:
            self._starts.append(total)
            total += pool.count
        self._total = total

    def __len__(self) -> int:
        return self._total

    @overload
    def __getitem__(self, index: int) -> Prefix: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Prefix]: ...

    def __getitem__(self, index: int | slice) -> Prefix | Sequence[Prefix]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._total))]
        if index < 0:
            index += self._total
        if not 0 <= index < self._total:
            raise IndexError(index)
        which = bisect_right(self._starts, index) - 1
        return self._pools[which].block(index - self._starts[which])
