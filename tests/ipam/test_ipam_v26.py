"""The v24–v26 allocator (compat "26"), read from moby v24.0.9–v26.1.5 ``libnetwork/ipam``."""

from __future__ import annotations

import pytest
from allocator_calls import SERIAL, refused

from ipamx_spy.ipam import Allocator, IpamConfig


def make(**options: object) -> Allocator:
    return Allocator(IpamConfig.build(compat="26.1.5", **options),  # type: ignore[arg-type]
                     clock=lambda: 5.0)


@pytest.fixture
def alloc() -> Allocator:
    return make()


def test_full_versions_pick_the_mode() -> None:
    assert make().config.compat == "26"
    assert Allocator(IpamConfig.build(compat="24")).generation.compat == "26"


def test_dynamic_pools_are_round_robin_like_20_10(alloc: Allocator) -> None:
    ids = [alloc.request_pool("LocalDefault").pool_id for _ in range(3)]
    assert ids == [f"LocalDefault/172.{n}.0.0/16" for n in (17, 18, 19)]
    alloc.release_pool(ids[0])
    assert alloc.request_pool("LocalDefault").pool == "172.20.0.0/16"  # 27 would take .17 again


def test_no_local_ipv6_ula(alloc: Allocator) -> None:
    assert refused(alloc.request_pool, "LocalDefault", v6=True) == (
        "could not find an available, non-overlapping IPv6 address pool among the defaults "
        "to assign to the network")
    assert make(local_pools=["fd00:1::/48:64"]).request_pool(
        "LocalDefault", v6=True).pool == "fd00:1::/64"


@pytest.mark.parametrize(("pool", "addresses"), [
    ("10.9.0.0/31", ["10.9.0.0/31", "10.9.0.1/31"]),
    ("10.9.0.0/32", ["10.9.0.0/32"]),
    ("10.9.0.0/30", ["10.9.0.1/30", "10.9.0.2/30"]),
])
def test_small_ipv4_pools_reserve_nothing_below_a_slash_30(
        alloc: Allocator, pool: str, addresses: list[str]) -> None:
    pool_id = alloc.request_pool("LocalDefault", pool).pool_id
    got = [alloc.request_address(pool_id) for _ in addresses]
    assert got == addresses
    assert refused(alloc.request_address, pool_id) == "no available addresses on this pool"


def test_pools_are_keyed_by_parsed_prefixes(alloc: Allocator) -> None:
    got = alloc.request_pool("LocalDefault", "10.8.0.7/24", "10.8.0.130/25")
    assert got.pool_id == "LocalDefault/10.8.0.0/24/10.8.0.128/25"
    assert alloc.request_address(got.pool_id) == "10.8.0.128/24"


def test_errors_are_lower_case_and_overlap_is_unwrapped(alloc: Allocator) -> None:
    alloc.request_pool("LocalDefault", "10.7.0.0/24")
    assert refused(alloc.request_pool, "LocalDefault", "10.7.0.0/25") == (
        "Pool overlaps with other one on this address space")
    assert refused(alloc.request_pool, "LocalDefault", "10.7.0.0/24", "zz") == (
        'failed to parse pool request for address space "LocalDefault" pool "10.7.0.0/24" '
        'subpool "zz": invalid address subpool')
    assert refused(alloc.request_pool, "LocalDefault", "10.6.0.0/24", "fd00::/64") == (
        "pool and subpool are of incompatible address families")
    assert refused(alloc.request_pool, "Elsewhere") == "cannot find address space Elsewhere"
    assert refused(alloc.release_pool, "LocalDefault/10.5.0.0/24") == (
        "address space does not contain specified address pool")


def test_the_serial_cursor_does_not_reset_when_the_bitmap_empties(alloc: Allocator) -> None:
    pool_id = alloc.request_pool("LocalDefault", "10.4.0.0/29").pool_id
    first = alloc.request_address(pool_id, options=SERIAL)
    alloc.release_address(pool_id, first.split("/")[0])
    assert first == "10.4.0.1/29"
    assert alloc.request_address(pool_id, options=SERIAL) == "10.4.0.2/29"
