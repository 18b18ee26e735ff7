"""PROTOCOL.md section 6, rule by rule, for the v27+ allocator (compat "27", the default)."""

from __future__ import annotations

import hashlib
import ipaddress

import pytest
from allocator_calls import SERIAL, refused

from ipamx_spy.ipam import Allocator, IpamConfig, IpamError
from ipamx_spy.ipam.addrset import RunSet
from ipamx_spy.ipam.prefix import Prefix

GATEWAY = {"RequestAddressType": "com.docker.network.gateway"}


def make(**options: object) -> Allocator:
    return Allocator(IpamConfig.build(**options), clock=lambda: 1000.0)  # type: ignore[arg-type]


@pytest.fixture
def alloc() -> Allocator:
    return make()


# -- 6.1 address spaces and predefined pools -------------------------------------------------


def test_default_address_spaces(alloc: Allocator) -> None:
    assert alloc.default_address_spaces() == ("LocalDefault", "GlobalDefault")


def test_configurable_space_names() -> None:
    a = make(local_space="ipamx-local", global_space="ipamx-global")
    assert a.default_address_spaces() == ("ipamx-local", "ipamx-global")
    assert a.request_pool("ipamx-local").pool_id == "ipamx-local/172.17.0.0/16"
    assert a.request_pool("ipamx-global").pool_id == "ipamx-global/10.0.0.0/24"
    assert refused(a.request_pool, "LocalDefault") == "cannot find address space LocalDefault"


def test_unknown_space(alloc: Allocator) -> None:
    assert refused(alloc.request_pool, "Nope") == "cannot find address space Nope"
    assert refused(alloc.request_pool, "Nope", "10.0.0.0/24") == "cannot find address space Nope"
    assert refused(alloc.request_address, "Nope/10.0.0.0/24") == "cannot find address space Nope"
    assert refused(alloc.release_pool, "Nope/10.0.0.0/24") == "cannot find address space Nope"


def test_worked_example_local_pools_in_order(alloc: Allocator) -> None:
    alloc.request_pool("LocalDefault", "172.17.0.0/16")  # docker0
    got = [alloc.request_pool("LocalDefault").pool for _ in range(14 + 16)]
    assert got[:14] == [f"172.{n}.0.0/16" for n in range(18, 32)]
    assert got[14:] == [f"192.168.{16 * n}.0/20" for n in range(16)]
    assert refused(alloc.request_pool, "LocalDefault") == \
        "all predefined address pools have been fully subnetted"


def test_first_fit_reuses_the_lowest_free_pool(alloc: Allocator) -> None:
    ids = [alloc.request_pool("LocalDefault").pool_id for _ in range(3)]
    alloc.release_pool(ids[1])
    assert alloc.request_pool("LocalDefault").pool == "172.18.0.0/16"


def test_global_space_splits_ten_slash_eight(alloc: Allocator) -> None:
    pools = [alloc.request_pool("GlobalDefault").pool for _ in range(3)]
    assert pools == ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]
    assert refused(alloc.request_pool, "GlobalDefault", v6=True) == \
        "all predefined address pools have been fully subnetted"


def test_local_ipv6_comes_from_the_engine_ula() -> None:
    digest = hashlib.sha256(b"my-engine").digest()
    global_id = int.from_bytes(digest[:8], "big") & (2**40 - 1)
    expected = ipaddress.IPv6Network(((0xFD << 120) | (global_id << 80), 64))
    a = make(engine_id="my-engine")
    first = a.request_pool("LocalDefault", v6=True)
    assert first.pool == str(expected)
    assert a.request_pool("LocalDefault", v6=True).pool == \
        str(ipaddress.IPv6Network((int(expected.network_address) + 2**64, 64)))
    assert make(engine_id="other").request_pool("LocalDefault", v6=True).pool != first.pool


def test_configured_ipv6_pool_replaces_the_ula() -> None:
    a = make(local_pools=["base=fd12:3456:789a::/48,size=64", "10.10.0.0/16:24"])
    assert a.request_pool("LocalDefault", v6=True).pool == "fd12:3456:789a::/64"
    assert a.request_pool("LocalDefault").pool == "10.10.0.0/24"


def test_predefined_list_is_sorted_and_overlaps_dropped() -> None:
    a = make(local_pools=["base=10.10.0.0/16,size=24", "10.0.0.0/8:16"])
    assert a.request_pool("LocalDefault").pool == "10.0.0.0/16"
    assert a.request_pool("LocalDefault").pool == "10.1.0.0/16"


def test_exclude_pushes_the_pick(alloc: Allocator) -> None:
    a = make(local_pools=["192.168.0.0/16:20"], exclude=["192.168.1.0/24"])
    assert a.request_pool("LocalDefault").pool == "192.168.16.0/20"
    # dockerd sends no exclusions for global networks, and static pools ignore them
    b = make(exclude=["10.0.0.0/8"])
    assert b.request_pool("GlobalDefault").pool == "10.0.0.0/24"
    assert b.request_pool("LocalDefault", "192.168.1.0/24").pool == "192.168.1.0/24"


def test_exclude_corner_case_small_reserved_after_larger_allocated() -> None:
    """PROTOCOL.md 6.4's documented corner case, reproduced on purpose."""
    a = make(local_pools=["10.0.0.0/8:24"], exclude=["10.0.1.1"])
    a.request_pool("LocalDefault", "10.0.0.0/16")
    assert a.request_pool("LocalDefault").pool == "10.0.2.0/24"  # overlaps 10.0.0.0/16
    b = make(local_pools=["10.0.0.0/8:24"])
    b.request_pool("LocalDefault", "10.0.0.0/16")
    assert b.request_pool("LocalDefault").pool == "10.1.0.0/24"


# -- 6.2 pool IDs -------------------------------------------------------------------------------


def test_pool_id_formats(alloc: Allocator) -> None:
    assert alloc.request_pool("LocalDefault").pool_id == "LocalDefault/172.17.0.0/16"
    child = alloc.request_pool("LocalDefault", "172.28.0.0/16", "172.28.30.0/24")
    assert child.pool_id == "LocalDefault/172.28.0.0/16/172.28.30.0/24"
    v6 = alloc.request_pool("LocalDefault", "fd12:3456:789a:0::/64", v6=True)
    assert v6.pool_id == "LocalDefault/fd12:3456:789a::/64"


@pytest.mark.parametrize("pool_id", ["", "LocalDefault", "LocalDefault/10.0.0.0",
                                     "LocalDefault/10.0.0.0/24/10.0.0.0", "a/b/c",
                                     "LocalDefault/10.0.0.0/24/x/y"])
def test_bad_pool_id(alloc: Allocator, pool_id: str) -> None:
    expected = f"invalid pool id: {pool_id}"
    assert refused(alloc.request_address, pool_id) == expected
    assert refused(alloc.release_address, pool_id, "10.0.0.1") == expected
    assert refused(alloc.release_pool, pool_id) == expected


def test_unmasked_pool_id_finds_nothing(alloc: Allocator) -> None:
    alloc.request_pool("LocalDefault", "10.0.0.0/24")
    assert refused(alloc.request_address, "LocalDefault/10.0.0.5/24") == \
        "cannot find address pool for poolID:10.0.0.5/24/invalid Prefix"


# -- 6.3 RequestPool ------------------------------------------------------------------------------


def test_request_pool_parse_errors(alloc: Allocator) -> None:
    assert refused(alloc.request_pool, "") == 'failed to parse pool request for address space "" ' \
        'pool "" subpool "": invalid address space'
    assert refused(alloc.request_pool, "LocalDefault", "", "10.0.0.0/24") == \
        'failed to parse pool request for address space "LocalDefault" pool "" subpool ' \
        '"10.0.0.0/24": invalid address subpool'
    assert refused(alloc.request_pool, "LocalDefault", "10.0.0.0/33") == \
        'failed to parse pool request for address space "LocalDefault" pool "10.0.0.0/33" ' \
        'subpool "": invalid address pool'
    assert refused(alloc.request_pool, "LocalDefault", "10.0.0.0/24", "nope") == \
        "invalid pool request: invalid address subpool"
    assert refused(alloc.request_pool, "LocalDefault", "10.0.0.0/24", "fd00::/64") == \
        "pool and subpool are of incompatible address families"


def test_static_pool_is_masked(alloc: Allocator) -> None:
    got = alloc.request_pool("LocalDefault", "10.1.2.3/16", "10.1.2.3/24")
    assert (got.pool_id, got.pool) == ("LocalDefault/10.1.0.0/16/10.1.2.0/24", "10.1.0.0/16")


def test_overlap_rules(alloc: Allocator) -> None:
    overlap = "invalid pool request: Pool overlaps with other one on this address space"
    alloc.request_pool("LocalDefault", "10.0.0.0/16")
    assert refused(alloc.request_pool, "LocalDefault", "10.0.0.0/16") == overlap
    assert refused(alloc.request_pool, "LocalDefault", "10.0.5.0/24") == overlap
    assert refused(alloc.request_pool, "LocalDefault", "10.0.0.0/8") == overlap
    # a new child on an existing pool is fine, the same child twice is not
    alloc.request_pool("LocalDefault", "10.0.0.0/16", "10.0.1.0/24")
    assert refused(alloc.request_pool, "LocalDefault", "10.0.0.0/16", "10.0.1.0/24") == overlap
    # moby#46756: a parent created for a child is not checked for overlap
    both = alloc.request_pool("LocalDefault", "10.0.0.0/8", "10.0.1.0/24")
    assert both.pool == "10.0.0.0/8"
    assert refused(alloc.request_pool, "LocalDefault", "10.0.0.0/8") == overlap


def test_families_are_separate_spaces(alloc: Allocator) -> None:
    overlap = "invalid pool request: Pool overlaps with other one on this address space"
    local = alloc.request_pool("LocalDefault", "10.0.0.0/16")
    assert (local.pool_id, local.pool) == ("LocalDefault/10.0.0.0/16", "10.0.0.0/16")
    other = alloc.request_pool("GlobalDefault", "10.0.0.0/16")  # another space
    assert other.pool_id == "GlobalDefault/10.0.0.0/16"
    # the V6 flag picks the space even for an explicit pool: no overlap with the IPv4 one
    v6_space = alloc.request_pool("LocalDefault", "10.0.0.0/16", v6=True)
    assert v6_space.pool_id == "LocalDefault/10.0.0.0/16"
    # each family space now holds the pool
    assert refused(alloc.request_pool, "LocalDefault", "10.0.0.0/16") == overlap
    assert refused(alloc.request_pool, "LocalDefault", "10.0.0.0/16", v6=True) == overlap


def test_v6_flag_mismatch_leaves_an_unreachable_pool(alloc: Allocator) -> None:
    pool = alloc.request_pool("LocalDefault", "10.9.0.0/24", v6=True)
    assert refused(alloc.request_address, pool.pool_id) == \
        "cannot find address pool for poolID:10.9.0.0/24/invalid Prefix"


def test_child_bigger_than_parent_becomes_the_parent(alloc: Allocator) -> None:
    got = alloc.request_pool("LocalDefault", "10.3.0.0/24", "10.3.0.0/16")
    assert got.pool_id == "LocalDefault/10.3.0.0/24/10.3.0.0/24"
    assert alloc.request_address(got.pool_id) == "10.3.0.1/24"


def test_identical_requests_are_an_error_not_a_refcount(alloc: Allocator) -> None:
    alloc.request_pool("LocalDefault", "10.7.0.0/24")
    assert "Pool overlaps" in refused(alloc.request_pool, "LocalDefault", "10.7.0.0/24")


# -- 6.5 reserved addresses -----------------------------------------------------------------------


@pytest.mark.parametrize(("pool", "usable"), [
    ("10.0.0.0/30", ["10.0.0.1/30", "10.0.0.2/30"]),
    ("10.0.0.0/31", ["10.0.0.0/31", "10.0.0.1/31"]),
    ("10.0.0.7/32", ["10.0.0.7/32"]),
    ("fd00::/127", ["fd00::1/127"]),
    ("fd00::/128", []),
    ("fd00::/126", ["fd00::1/126", "fd00::2/126", "fd00::3/126"]),
])
def test_reserved_network_and_broadcast(alloc: Allocator, pool: str, usable: list[str]) -> None:
    pid = alloc.request_pool("LocalDefault", pool, v6=":" in pool).pool_id
    assert [alloc.request_address(pid) for _ in usable] == usable
    assert refused(alloc.request_address, pid) == "no available addresses on this pool"


def test_ipv6_gateway_is_one_and_containers_start_at_two(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "fd00:1::/64", v6=True).pool_id
    assert alloc.request_address(pid, options=GATEWAY) == "fd00:1::1/64"
    assert alloc.request_address(pid) == "fd00:1::2/64"


def test_wide_pools_allocate_dynamically_only_from_the_first_block(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "fd00:2::/64", v6=True).pool_id
    pool = alloc.state.spaces["local6"].pools[Prefix(6, 0xFD000002 << 96, 64)]
    assert pool.addrs.block == 2**63
    pool.addrs.used = RunSet.from_runs([(0, 2**63 - 1)])  # the whole first bitmap in use
    assert refused(alloc.request_address, pid) == "no available addresses on this pool"
    assert alloc.request_address(pid, "fd00:2:0:0:8000::5") == "fd00:2::8000:0:0:5/64"
    # a child range in the upper half allocates from the upper bitmap
    child = alloc.request_pool("LocalDefault", "fd00:2::/64", "fd00:2:0:0:8000::/65", v6=True)
    assert alloc.request_address(child.pool_id) == "fd00:2:0:0:8000::/64"


def test_huge_pools_are_cheap(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.0.0.0/8").pool_id
    wide = alloc.request_pool("LocalDefault", "fd00:3::/48", v6=True).pool_id
    assert alloc.request_address(pid) == "10.0.0.1/8"
    assert alloc.request_address(wide) == "fd00:3::1/48"
    assert alloc.request_address(wide, "fd00:3:0:ffff:ffff:ffff:ffff:ffff") == \
        "fd00:3:0:ffff:ffff:ffff:ffff:ffff/48"
    assert all(len(p.addrs.used.runs()) <= 3 for s in alloc.state.spaces.values()
               for p in s.pools.values())


# -- 6.6 RequestAddress ---------------------------------------------------------------------------


def test_lowest_free_and_immediate_reuse(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.5.0.0/24").pool_id
    assert alloc.request_address(pid, options=GATEWAY) == "10.5.0.1/24"
    assert [alloc.request_address(pid) for _ in range(3)] == \
        ["10.5.0.2/24", "10.5.0.3/24", "10.5.0.4/24"]
    alloc.release_address(pid, "10.5.0.3")
    assert alloc.request_address(pid) == "10.5.0.3/24"


def test_preferred_address_rules(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.2.0.0/16", "10.2.2.0/24").pool_id
    assert alloc.request_address(pid, "10.2.9.9") == "10.2.9.9/16"  # outside the child: fine
    assert refused(alloc.request_address, pid, "10.2.9.9") == "Address already in use"
    assert refused(alloc.request_address, pid, "10.2.0.0") == "Address already in use"
    assert refused(alloc.request_address, pid, "10.2.255.255") == "Address already in use"
    assert refused(alloc.request_address, pid, "10.3.0.1") == "requested address is out of range"
    assert refused(alloc.request_address, pid, "fd00::1") == "requested address is out of range"
    assert refused(alloc.request_address, pid, "bogus") == "invalid preferred address: bogus"
    assert alloc.request_address(pid, "::ffff:10.2.7.7") == "10.2.7.7/16"


def test_sub_pool_range_includes_its_network_and_broadcast(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.2.0.0/16", "10.2.2.0/24").pool_id
    got = [alloc.request_address(pid) for _ in range(256)]
    assert got[0] == "10.2.2.0/16" and got[-1] == "10.2.2.255/16"
    assert refused(alloc.request_address, pid) == "no available addresses on this pool"


def test_gateway_of_a_range_is_its_first_address(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "172.30.0.0/16", "172.30.10.0/24").pool_id
    assert alloc.request_address(pid, options=GATEWAY) == "172.30.10.0/16"
    assert alloc.request_address(pid) == "172.30.10.1/16"


def test_children_share_the_parent_address_set(alloc: Allocator) -> None:
    a = alloc.request_pool("LocalDefault", "10.8.0.0/24", "10.8.0.0/25").pool_id
    b = alloc.request_pool("LocalDefault", "10.8.0.0/24", "10.8.0.0/26").pool_id
    assert alloc.request_address(a) == "10.8.0.1/24"
    assert alloc.request_address(b) == "10.8.0.2/24"
    assert refused(alloc.request_address, b, "10.8.0.1") == "Address already in use"


def test_missing_pool_and_child(alloc: Allocator) -> None:
    assert refused(alloc.request_address, "LocalDefault/10.0.0.0/24") == \
        "cannot find address pool for poolID:10.0.0.0/24/invalid Prefix"
    alloc.request_pool("LocalDefault", "10.2.0.0/16", "10.2.2.0/24")
    assert refused(alloc.request_address, "LocalDefault/10.2.0.0/16/10.2.3.0/24") == \
        "cannot find address pool for poolID:10.2.0.0/16/10.2.3.0/24"
    # the range check comes before the child check
    assert refused(alloc.request_address, "LocalDefault/10.2.0.0/16/10.2.3.0/24", "10.9.0.1") \
        == "requested address is out of range"


def test_child_outside_its_parent_fails_at_request_address(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.4.0.0/24", "10.5.0.0/28").pool_id
    assert refused(alloc.request_address, pid) == \
        "add-any, range '10.5.0.0/28' is not in subnet '10.4.0.0/24'"


def test_serial_cursor(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.6.0.0/24").pool_id
    assert [alloc.request_address(pid, options=SERIAL) for _ in range(3)] == \
        ["10.6.0.1/24", "10.6.0.2/24", "10.6.0.3/24"]
    alloc.release_address(pid, "10.6.0.2")
    assert alloc.request_address(pid, options=SERIAL) == "10.6.0.4/24"
    assert alloc.request_address(pid) == "10.6.0.2/24"  # non-serial: lowest free
    # explicit allocations do not move the cursor, dynamic non-serial ones do
    alloc.request_address(pid, "10.6.0.100")
    assert alloc.request_address(pid, options=SERIAL) == "10.6.0.5/24"


def test_serial_cursor_wraps_to_the_lowest_free(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.6.1.0/29").pool_id
    assert [alloc.request_address(pid, options=SERIAL) for _ in range(6)][-1] == "10.6.1.6/29"
    alloc.release_address(pid, "10.6.1.3")
    assert alloc.request_address(pid, options=SERIAL) == "10.6.1.3/29"


def test_an_emptied_bitmap_resets_its_cursor(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.6.2.0/29").pool_id
    alloc.request_address(pid, options=SERIAL)
    alloc.request_address(pid, options=SERIAL)
    for address in ("10.6.2.0", "10.6.2.7", "10.6.2.1", "10.6.2.2"):
        alloc.release_address(pid, address)
    assert alloc.request_address(pid, options=SERIAL) == "10.6.2.0/29"


def test_serial_in_a_child_range(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.6.3.0/24", "10.6.3.16/28").pool_id
    assert alloc.request_address(pid, options=SERIAL) == "10.6.3.16/24"
    alloc.request_address(pid, "10.6.3.17")
    assert alloc.request_address(pid, options=SERIAL) == "10.6.3.18/24"


# -- 6.7 releases ---------------------------------------------------------------------------------


def test_release_address_rules(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.9.0.0/24").pool_id
    alloc.release_address(pid, "10.9.0.77")  # free: silent
    assert refused(alloc.release_address, pid, "10.10.0.1") == "requested address is out of range"
    assert refused(alloc.release_address, pid, "") == "invalid address: <nil>"
    assert refused(alloc.release_address, "LocalDefault/10.1.1.0/24", "10.1.1.1") == \
        "cannot find address pool for 10.1.1.0/24/invalid Prefix"
    alloc.request_pool("LocalDefault", "10.9.0.0/24", "10.9.0.0/25")
    assert refused(alloc.release_address, "LocalDefault/10.9.0.0/24/10.9.0.128/25", "10.9.0.1") \
        == "cannot find address pool for poolID:10.9.0.0/24/10.9.0.128/25"


def test_releasing_the_network_address_makes_it_allocatable(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.9.1.0/24").pool_id
    alloc.release_address(pid, "10.9.1.0")
    assert alloc.request_address(pid) == "10.9.1.0/24"
    alloc.release_address(pid, "10.9.1.255")
    assert alloc.request_address(pid, "10.9.1.255") == "10.9.1.255/24"


def test_release_pool_forgets_its_addresses(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.9.2.0/24").pool_id
    alloc.request_address(pid)
    alloc.release_pool(pid)
    assert refused(alloc.release_pool, pid) == \
        "address space does not contain specified address pool"
    pid = alloc.request_pool("LocalDefault", "10.9.2.0/24").pool_id
    assert alloc.request_address(pid) == "10.9.2.1/24"


def test_parent_stays_until_the_last_child_goes(alloc: Allocator) -> None:
    parent = alloc.request_pool("LocalDefault", "10.9.3.0/24").pool_id
    child = alloc.request_pool("LocalDefault", "10.9.3.0/24", "10.9.3.0/25").pool_id
    alloc.request_address(parent)
    alloc.release_pool(parent)
    alloc.release_pool(parent)  # still has a child: not an error
    assert alloc.request_address(child) == "10.9.3.2/24"
    alloc.release_pool(child)
    assert refused(alloc.release_pool, child) == \
        "address space does not contain specified address pool"
    assert alloc.networks() == []


def test_releasing_the_only_child_of_a_master_keeps_the_master(alloc: Allocator) -> None:
    parent = alloc.request_pool("LocalDefault", "10.9.4.0/24").pool_id
    child = alloc.request_pool("LocalDefault", "10.9.4.0/24", "10.9.4.0/25").pool_id
    alloc.release_pool(child)
    assert alloc.request_address(parent) == "10.9.4.1/24"


def test_auto_created_parent_goes_with_its_last_child(alloc: Allocator) -> None:
    child = alloc.request_pool("LocalDefault", "10.9.5.0/24", "10.9.5.0/25").pool_id
    alloc.request_address(child)
    alloc.release_pool(child)
    assert alloc.networks() == []
    assert alloc.request_pool("LocalDefault", "10.9.5.0/24").pool == "10.9.5.0/24"


def test_errors_change_nothing(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.9.6.0/30").pool_id
    alloc.request_address(pid)
    alloc.request_address(pid)
    before = alloc.snapshot()
    refused(alloc.request_address, pid, "10.9.6.1")
    refused(alloc.request_address, pid)
    refused(alloc.request_pool, "LocalDefault", "10.9.6.0/24")
    refused(alloc.release_pool, "LocalDefault/10.9.7.0/24")
    assert alloc.snapshot() == before


def test_error_kinds_follow_docker(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.9.8.0/31").pool_id
    alloc.request_address(pid, "10.9.8.0")
    with pytest.raises(IpamError) as in_use:
        alloc.request_address(pid, "10.9.8.0")
    alloc.request_address(pid)
    with pytest.raises(IpamError) as empty:
        alloc.request_address(pid)
    assert (in_use.value.kind, empty.value.kind) == ("forbidden", "unavailable")


def test_leases_record_gateway_endpoint_and_time(alloc: Allocator) -> None:
    pid = alloc.request_pool("LocalDefault", "10.9.9.0/24").pool_id
    alloc.request_address(pid, options=GATEWAY)
    alloc.request_address(pid, options={"com.docker.network.endpoint.name": "web",
                                        "com.docker.network.endpoint.macaddress": "02:42:0a"})
    first, second = alloc.leases()
    assert (first.address, first.gateway, first.time) == ("10.9.9.1", True, 1000.0)
    assert (second.endpoint, second.mac, second.gateway) == ("web", "02:42:0a", False)
    alloc.release_address(pid, "10.9.9.1")
    assert [lease.address for lease in alloc.leases()] == ["10.9.9.2"]
