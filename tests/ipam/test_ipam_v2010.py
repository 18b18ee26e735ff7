"""PROTOCOL.md 6.9: the ≤v26/≤v23 allocator (compat "20.10")."""

from __future__ import annotations

import pytest
from allocator_calls import SERIAL, refused

from ipamx_spy.ipam import Allocator, IpamConfig


def make(**options: object) -> Allocator:
    return Allocator(IpamConfig.build(compat="20.10", **options),  # type: ignore[arg-type]
                     clock=lambda: 5.0)


@pytest.fixture
def alloc() -> Allocator:
    return make()


def test_round_robin_after_the_last_pool_handed_out(alloc: Allocator) -> None:
    ids = [alloc.request_pool("LocalDefault").pool_id for _ in range(3)]
    assert ids == [f"LocalDefault/172.{n}.0.0/16" for n in (17, 18, 19)]
    alloc.release_pool(ids[1])
    assert alloc.request_pool("LocalDefault").pool == "172.20.0.0/16"


def test_round_robin_wraps_and_skips_taken(alloc: Allocator) -> None:
    a = make(local_pools=["10.0.0.0/30:31"])
    first, second = (a.request_pool("LocalDefault").pool_id for _ in range(2))
    assert refused(a.request_pool, "LocalDefault") == "could not find an available, " \
        "non-overlapping IPv4 address pool among the defaults to assign to the network"
    a.release_pool(first)
    assert a.request_pool("LocalDefault").pool == "10.0.0.0/31"
    a.release_pool(second)
    assert a.request_pool("LocalDefault").pool == "10.0.0.2/31"


def test_stored_index_resets_to_zero_instead_of_wrapping() -> None:
    a = make(local_pools=["10.0.0.0/29:31"])  # A=.0 B=.2 C=.4 D=.6
    ids = [a.request_pool("LocalDefault").pool_id for _ in range(3)]  # index now 3
    a.request_pool("LocalDefault", "10.0.0.6/31")  # D taken statically
    a.release_pool(ids[0])
    assert a.request_pool("LocalDefault").pool == "10.0.0.0/31"  # index 3+1+1 -> 0, not 1
    a.release_pool(ids[0])
    a.release_pool(ids[1])
    assert a.request_pool("LocalDefault").pool == "10.0.0.0/31"


def test_whole_global_list_is_not_materialised(alloc: Allocator) -> None:
    assert [alloc.request_pool("GlobalDefault").pool for _ in range(2)] == \
        ["10.0.0.0/24", "10.0.1.0/24"]
    assert len(alloc.generation.candidates["global"]) == 65536  # type: ignore[attr-defined]


def test_no_ula_by_default_and_v6_from_configured_pools(alloc: Allocator) -> None:
    assert refused(alloc.request_pool, "LocalDefault", v6=True) == "could not find an " \
        "available, non-overlapping IPv6 address pool among the defaults to assign to the network"
    a = make(local_pools=["172.17.0.0/16", "fd00:1::/48:64"])
    assert a.request_pool("LocalDefault", v6=True).pool == "fd00:1::/64"
    assert a.request_pool("LocalDefault").pool == "172.17.0.0/16"


def test_exclude_is_skipped_like_dockerd_holding_pools() -> None:
    a = make(exclude=["172.18.0.1"])
    assert [a.request_pool("LocalDefault").pool for _ in range(2)] == \
        ["172.17.0.0/16", "172.19.0.0/16"]


def test_capitalised_error_texts(alloc: Allocator) -> None:
    assert refused(alloc.request_pool, "") == 'failed to parse pool request for address space "" ' \
        'pool "" subpool "": Invalid Address Space'
    assert refused(alloc.request_pool, "LocalDefault", "", "10.0.0.0/24").endswith(
        ": Invalid Address SubPool")
    assert refused(alloc.request_pool, "LocalDefault", "x").endswith(": Invalid Address Pool")
    assert refused(alloc.request_pool, "LocalDefault", "10.0.0.0/24", "x").endswith(
        ": Invalid Address SubPool")
    assert refused(alloc.request_pool, "Other") == \
        "no default pool available for non-default address spaces"
    assert refused(alloc.request_pool, "Other", "10.0.0.0/24") == \
        "cannot find address space Other (most likely the backing datastore is not configured)"
    pid = alloc.request_pool("LocalDefault", "10.1.0.0/24").pool_id
    assert refused(alloc.request_address, pid, "10.2.0.1") == "Requested address is out of range"
    assert refused(alloc.release_address, pid, "10.2.0.1") == "Requested address is out of range"
    assert refused(alloc.release_address, pid, "") == "invalid address: nil"
    assert refused(alloc.request_address, "LocalDefault/10.9.9.0/24") == \
        "cannot find address pool for poolID:LocalDefault/10.9.9.0/24"
    assert refused(alloc.release_address, "LocalDefault/10.9.9.0/24", "10.9.9.1") == \
        "cannot find address pool for poolID:LocalDefault/10.9.9.0/24"
    assert refused(alloc.release_pool, "LocalDefault/10.9.9.0/24") == \
        "Address space does not contain specified address pool"
    assert refused(alloc.release_pool, "nothing") == "invalid pool id: nothing"
    assert refused(alloc.request_pool, "LocalDefault", "10.1.0.0/24") == \
        "Pool overlaps with other one on this address space"
    alloc.request_address(pid, "10.1.0.9")
    assert refused(alloc.request_address, pid, "10.1.0.9") == "Address already in use"


@pytest.mark.parametrize(("pool", "usable"), [
    ("10.0.0.0/30", ["10.0.0.1/30", "10.0.0.2/30"]),
    ("10.0.0.0/31", []),
    ("10.0.0.7/32", []),
    ("fd00::/127", ["fd00::1/127"]),
    ("fd00::/128", []),
])
def test_offset_zero_and_last_always_reserved(alloc: Allocator, pool: str,
                                               usable: list[str]) -> None:
    pid = alloc.request_pool("LocalDefault", pool).pool_id
    assert [alloc.request_address(pid) for _ in usable] == usable
    assert refused(alloc.request_address, pid) == "No available addresses on this pool"


def test_full_pool_refuses_even_a_preferred_address_as_full(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.0.0.0/30").pool_id
    alloc.request_address(pid)
    alloc.request_address(pid)
    assert refused(alloc.request_address, pid, "10.0.0.1") == "No available addresses on this pool"


def test_pool_id_child_part_is_the_raw_sub_pool(alloc: Allocator) -> None:
    got = alloc.request_pool("LocalDefault", "10.2.0.5/16", "10.2.2.5/24")
    assert (got.pool_id, got.pool) == ("LocalDefault/10.2.0.0/16/10.2.2.5/24", "10.2.0.0/16")
    assert alloc.request_address(got.pool_id) == "10.2.2.0/16"
    other = alloc.request_pool("LocalDefault", "10.2.0.0/16", "10.2.2.0/24").pool_id
    assert alloc.request_address(other) == "10.2.2.1/16"  # same range, shared addresses
    assert refused(alloc.request_pool, "LocalDefault", "10.2.0.0/16", "10.2.2.0/24") == \
        "Pool overlaps with other one on this address space"


def test_unmasked_master_pool_id_finds_nothing(alloc: Allocator) -> None:
    alloc.request_pool("LocalDefault", "10.3.0.0/24")
    assert refused(alloc.request_address, "LocalDefault/10.3.0.5/24").startswith(
        "cannot find address pool for poolID:")


def test_refcounts_of_master_and_children(alloc: Allocator) -> None:
    master = alloc.request_pool("LocalDefault", "10.4.0.0/24").pool_id
    child = alloc.request_pool("LocalDefault", "10.4.0.0/24", "10.4.0.0/25").pool_id
    alloc.request_address(master)
    alloc.release_pool(master)  # refcount 2 -> 1: still there
    assert alloc.request_address(child) == "10.4.0.2/24"
    alloc.release_pool(child)  # 1 -> 0: gone with its addresses
    assert alloc.networks() == []
    assert refused(alloc.release_pool, child) == \
        "Address space does not contain specified address pool"


def test_parent_created_for_a_child_counts_it_once(alloc: Allocator) -> None:
    first = alloc.request_pool("LocalDefault", "10.5.0.0/24", "10.5.0.0/25").pool_id
    second = alloc.request_pool("LocalDefault", "10.5.0.0/24", "10.5.0.128/25").pool_id
    assert refused(alloc.request_pool, "LocalDefault", "10.5.0.0/24") == \
        "Pool overlaps with other one on this address space"
    alloc.release_pool("LocalDefault/10.5.0.0/24")  # 2 -> 1
    alloc.release_pool(first)  # 1 -> 0: the parent goes, the second child dangles
    assert refused(alloc.request_address, second).startswith(
        "cannot find address pool for poolID:LocalDefault/10.5.0.0/24 (the sub-pool outlived")
    alloc.request_pool("LocalDefault", "10.5.0.0/24")  # a new parent revives the dangling child
    assert alloc.request_address(second) == "10.5.0.128/24"


def test_cursor_never_resets(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.6.0.0/29").pool_id
    alloc.request_address(pid, options=SERIAL)
    alloc.request_address(pid, options=SERIAL)
    for address in ("10.6.0.0", "10.6.0.7", "10.6.0.1", "10.6.0.2"):
        alloc.release_address(pid, address)
    assert alloc.request_address(pid, options=SERIAL) == "10.6.0.3/29"


def test_wide_ipv6_pools_keep_only_the_low_64_bits(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "fd00:9::/64").pool_id
    assert refused(alloc.request_address, pid, "fd00:9::ffff:ffff:ffff:ffff") == \
        "bit does not belong to the sequence"
    wide = alloc.request_pool("LocalDefault", "fd00:8::/48").pool_id
    assert alloc.request_address(wide, "fd00:8:0:1::5") == "fd00:8::5/48"
    assert refused(alloc.request_address, wide, "fd00:8::5") == "Address already in use"


def test_lowest_free_and_released_network_address(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.7.0.0/24").pool_id
    assert [alloc.request_address(pid) for _ in range(2)] == ["10.7.0.1/24", "10.7.0.2/24"]
    alloc.release_address(pid, "10.7.0.1")
    alloc.release_address(pid, "10.7.0.1")  # free: silent
    alloc.release_address(pid, "10.7.0.0")
    assert alloc.request_address(pid) == "10.7.0.0/24"
