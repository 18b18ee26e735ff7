"""A Hypothesis rule-based state machine over the allocator, in both generations.

Invariants: an address is never handed out twice while it is set; a release frees it; a pool
release that drops the subnet forgets its addresses; children share their parent's addresses
(the model keys addresses by parent subnet, whichever pool ID asked); a refused request changes
nothing; the journaled change records rebuild the same state; snapshots round-trip.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from ipamx_spy.ipam import Allocator, IpamConfig, IpamError

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
SPACES = ("LocalDefault", "GlobalDefault")
STATIC = ["10.0.0.0/28", "10.0.0.16/28", "10.0.0.0/27", "10.0.0.32/29", "10.0.0.40/30",
          "10.0.0.44/31", "10.0.0.46/32", "10.0.0.0/26", "10.0.1.0/29", "fd00::/124",
          "fd00::10/124", "fd00::/123", "fd00::20/127", "fd00::22/128", "fd00:1::/64"]


def reserved(net: Net, compat: str) -> set[str]:
    """PROTOCOL.md 6.5 / 6.9, written independently of the implementation."""
    first, last = net.network_address, net[-1]
    if compat == "20.10":
        return {str(first), str(last)} if net.version == 4 else {str(first)}
    hosts = net.max_prefixlen - net.prefixlen
    out = set()
    if net.version == 6 or hosts > 1:
        out.add(str(first))
    if net.version == 4 and hosts > 1:
        out.add(str(last))
    return out


class AllocatorMachine(RuleBasedStateMachine):
    compat = "27"
    pools = Bundle("pools")

    def __init__(self) -> None:
        super().__init__()
        config = IpamConfig.build(compat=self.compat, local_pools=["10.0.0.0/26:28",
                                                                  "fd00::/120:124"])
        self.ticks = 0.0
        self.alloc = Allocator(config, clock=self.tick)
        self.replica = Allocator(config)
        self.parent_of: dict[str, tuple[str, Net]] = {}
        self.used: dict[tuple[str, Net], set[str]] = {}
        self.leased: dict[tuple[str, Net], set[str]] = {}

    def tick(self) -> float:
        self.ticks += 1
        return self.ticks

    def run(self, method: str, *args: Any) -> tuple[Any, IpamError | None]:
        """Call the allocator; a refusal must change nothing, a success is journaled."""
        before = self.alloc.snapshot()
        try:
            with self.alloc.transaction() as txn:
                result = getattr(self.alloc, method)(*args)
                changes = json.loads(json.dumps(txn.changes))
        except IpamError as exc:
            assert self.alloc.snapshot() == before, f"refused {method}{args} changed the state"
            return None, exc
        self.replica.apply(changes)
        return result, None

    def pool_created(self, pool_id: str, space: str, pool: str) -> str:
        net = ipaddress.ip_network(pool)
        scope = space + str(net.version)
        self.parent_of[pool_id] = (scope, net)
        key = (scope, net)
        if key not in self.used:
            self.used[key] = reserved(net, self.compat)
            self.leased[key] = set()
        return pool_id

    @initialize()
    def nothing(self) -> None:
        pass

    @rule(target=pools, space=st.sampled_from(SPACES), subnet=st.sampled_from(STATIC),
          data=st.data())
    def request_static(self, space: str, subnet: str, data: st.DataObject) -> str:
        net = ipaddress.ip_network(subnet)
        child = data.draw(st.none() | st.integers(net.prefixlen - 2, net.max_prefixlen))
        sub = ""
        if child is not None:
            child = max(child, 0)
            sub_net: Net = ipaddress.ip_network((net.network_address, child), strict=False)
            if net.prefixlen <= child < net.prefixlen + 6:
                offset = data.draw(st.integers(0, 2 ** (child - net.prefixlen) - 1))
                step = 2 ** (net.max_prefixlen - child)
                sub_net = ipaddress.ip_network((int(net.network_address) + offset * step, child))
            sub = str(sub_net)
        result, error = self.run("request_pool", space, subnet, sub, None, net.version == 6)
        if error is not None:
            return "LocalDefault/nothing/0"
        return self.pool_created(result.pool_id, space, result.pool)

    @rule(target=pools, space=st.sampled_from(SPACES), v6=st.booleans())
    def request_dynamic(self, space: str, v6: bool) -> str:
        result, error = self.run("request_pool", space, "", "", None, v6)
        if error is not None:
            return "GlobalDefault/nothing/0"
        return self.pool_created(result.pool_id, space, result.pool)

    @rule(pool_id=pools, serial=st.booleans(), data=st.data())
    def request_address(self, pool_id: str, serial: bool, data: st.DataObject) -> None:
        preferred = ""
        if pool_id in self.parent_of and data.draw(st.booleans()):
            net = self.parent_of[pool_id][1]
            preferred = str(net[data.draw(st.integers(0, min(net.num_addresses, 40) - 1))])
        options = {"com.docker.network.ipam.serial": "true"} if serial else None
        result, error = self.run("request_address", pool_id, preferred, options)
        if pool_id not in self.parent_of:
            assert error is not None
            return
        key = self.parent_of[pool_id]
        if error is None:
            address, _, length = result.partition("/")
            assert int(length) == key[1].prefixlen
            assert address not in self.used[key], f"{address} handed out twice"
            assert not preferred or address == preferred
            self.used[key].add(address)
            self.leased[key].add(address)
        elif error.message in ("Address already in use",):
            assert preferred in self.used[key]
        elif error.message.lower() == "no available addresses on this pool" \
                and not preferred and pool_id.count("/") == 2:
            assert len(self.used[key]) == min(key[1].num_addresses, 2**63)

    @rule(pool_id=pools, data=st.data())
    def release_address(self, pool_id: str, data: st.DataObject) -> None:
        if pool_id not in self.parent_of:
            return
        key = self.parent_of[pool_id]
        choices = sorted(self.used.get(key, set())) or [str(key[1].network_address)]
        address = data.draw(st.sampled_from(choices))
        _result, error = self.run("release_address", pool_id, address)
        if error is None and key in self.used:
            self.used[key].discard(address)
            self.leased[key].discard(address)
            again, error = self.run("request_address", pool_id, address, None)
            assert error is None and again.startswith(address + "/"), "a release frees it"
            self.run("release_address", pool_id, address)

    @rule(pool_id=pools)
    def release_pool(self, pool_id: str) -> None:
        _result, error = self.run("release_pool", pool_id)
        if error is not None:
            return
        alive = {(n.address_space + str(n.family), ipaddress.ip_network(n.pool))
                 for n in self.alloc.networks()}
        for key in list(self.used):
            if key not in alive:
                del self.used[key], self.leased[key]

    @invariant()
    def leases_match_the_model(self) -> None:
        seen: dict[tuple[str, Net], set[str]] = {}
        for lease in self.alloc.leases():
            net = ipaddress.ip_network(lease.pool)
            key = (lease.address_space + str(net.version), net)
            assert lease.address not in seen.setdefault(key, set())
            seen[key].add(lease.address)
        assert seen == {k: v for k, v in self.leased.items() if v}

    @invariant()
    def journal_and_snapshot_rebuild_the_state(self) -> None:
        snapshot = self.alloc.snapshot()
        assert self.replica.snapshot() == snapshot
        copy = Allocator.from_snapshot(json.loads(json.dumps(snapshot)), self.alloc.config)
        assert copy.snapshot() == snapshot


class AllocatorMachine2010(AllocatorMachine):
    compat = "20.10"


class AllocatorMachine26(AllocatorMachine):
    compat = "26"


SETTINGS = settings(max_examples=60, stateful_step_count=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestAllocator27 = AllocatorMachine.TestCase
TestAllocator27.settings = SETTINGS
TestAllocator2010 = AllocatorMachine2010.TestCase
TestAllocator2010.settings = SETTINGS
TestAllocator26 = AllocatorMachine26.TestCase
TestAllocator26.settings = SETTINGS
