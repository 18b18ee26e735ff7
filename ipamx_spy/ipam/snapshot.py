"""Snapshots: the whole allocator data as JSON-able values, and back (docs/allocator.md).

Per space: ``allocated`` (Go's list, in its order), the pools with their address sets as runs
of offsets, cursors per bitmap block and leases as rows (``LEASE_FIELDS``), and the ≤v23
sub-pools. Loading checks structure only; ``Allocator.from_snapshot`` checks the settings.
"""

from __future__ import annotations

from .addrset import RunSet, Sizing
from .model import (
    JSON,
    LEASE_FIELDS,
    Lease,
    Pool,
    Space,
    State,
    SubPool,
    prefix_of,
    sorted_around,
    text_key,
)


def to_snapshot(state: State) -> dict[str, JSON]:
    """The whole state as JSON-able data (see docs/allocator.md for the format)."""
    return {
        "round_robin": dict(state.round_robin),
        "lease_fields": list(LEASE_FIELDS),
        "spaces": {kind: _space_json(space) for kind, space in state.spaces.items()},
    }


def _space_json(space: Space) -> dict[str, JSON]:
    return {
        "allocated": [str(p) for p in space.allocated],
        "pools": [_pool_json(pool) for pool in space.pools.values()],
        "subpools": [[s.raw, str(s.parent), s.start, s.end] for s in space.subpools.values()],
    }


def _pool_json(pool: Pool) -> dict[str, JSON]:
    return {
        "subnet": str(pool.prefix),
        "children": sorted((str(c) for c in pool.children), key=text_key),
        "auto_release": pool.auto_release,
        "refcount": pool.refcount,
        "used": [list(run) for run in pool.addrs.used.runs()],
        "cursors": sorted([block, curr] for block, curr in pool.addrs.cursors.items()),
        "leases": [lease.to_json(offset) for offset, lease in sorted(pool.leases.items())],
    }


def from_snapshot(data: dict[str, JSON], sizing: Sizing) -> State:
    """Rebuild a state. Raises ValueError/KeyError/TypeError when ``data`` is malformed."""
    state = State(sizing)
    for scope, index in data["round_robin"].items():
        if scope not in state.round_robin:
            raise ValueError(f"unknown scope {scope!r}")
        state.round_robin[scope] = int(index)
    for kind, space_data in data["spaces"].items():
        _load_space(state.spaces[kind], space_data, sizing)
    return state


def _load_space(space: Space, data: dict[str, JSON], sizing: Sizing) -> None:
    space.allocated = [prefix_of(text) for text in data["allocated"]]
    space.unsorted = any(not sorted_around(space.allocated, i)
                         for i in range(len(space.allocated)))
    for pool_data in data["pools"]:
        pool = _load_pool(pool_data, sizing)
        space.pools[pool.prefix] = pool
    for raw, parent_text, start, end in data["subpools"]:
        parent = prefix_of(parent_text)
        sub = SubPool(key=f"{parent}/{raw}", raw=str(raw), parent=parent,
                      start=int(start), end=int(end))
        space.subpools[sub.key] = sub


def _load_pool(data: dict[str, JSON], sizing: Sizing) -> Pool:
    prefix = prefix_of(data["subnet"])
    pool = Pool(prefix, sizing.new_set(prefix))
    pool.children = frozenset(prefix_of(text) for text in data["children"])
    pool.auto_release = bool(data["auto_release"])
    pool.refcount = int(data["refcount"])
    pool.addrs.used = RunSet.from_runs((int(s), int(e)) for s, e in data["used"])
    pool.addrs.cursors = {int(block): int(curr) for block, curr in data["cursors"]}
    for row in data["leases"]:
        offset, lease = Lease.from_json(row)
        pool.leases[offset] = lease
    return pool
