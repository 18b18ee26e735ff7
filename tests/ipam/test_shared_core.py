"""The shared allocator's sans-IO core over an in-memory compare-and-swap log.

The in-memory log obeys the same contract as the etcd one (``shared.Log``); the real cluster
is exercised in tests/test_etcd_store.py.
"""

from __future__ import annotations

import threading

import pytest

from ipamx_spy.ipam.config import IpamConfig
from ipamx_spy.ipam.errors import IpamError
from ipamx_spy.ipam.shared import Entry, SharedAllocator, StoreUnavailable


class MemoryLog:
    def __init__(self, name: str) -> None:
        self.name = name
        self.entries: list[Entry] = []
        self.lock = threading.Lock()
        self.lose_answers = 0  # append lands, then "the connection dies"
        self.retry_lost = False  # ... and the client retries it on another member
        self.down = False

    def append(self, entry: Entry) -> list[Entry] | None:
        with self.lock:
            if self.down:
                raise StoreUnavailable("down")
            if len(self.entries) != entry.seq - 1:
                return list(self.entries[entry.seq - 1:])
            self.entries.append(Entry.from_json(entry.to_json()))
            if self.lose_answers:
                self.lose_answers -= 1
                if self.retry_lost:  # the same compare-and-swap again: it fails now
                    return list(self.entries[entry.seq - 1:])
                raise StoreUnavailable("answer lost")
            return None

    def read_after(self, seq: int) -> list[Entry]:
        with self.lock:
            if self.down:
                raise StoreUnavailable("down")
            return list(self.entries[seq:])


class Cluster:
    def __init__(self) -> None:
        self.global_log = MemoryLog("global")
        self.local_logs: dict[str, MemoryLog] = {}

    def host(self, name: str) -> SharedAllocator:
        local = self.local_logs.setdefault(name, MemoryLog(f"hosts/{name}"))
        shared = SharedAllocator(IpamConfig(), host=name, global_log=self.global_log,
                                 local_log=local)
        shared.catch_up()
        return shared


def test_two_hosts_never_share_an_address_and_see_each_others_pool() -> None:
    cluster = Cluster()
    a, b = cluster.host("a"), cluster.host("b")
    pool = a.request_pool("GlobalDefault", "10.4.4.0/24")
    attached = b.request_pool("GlobalDefault", "10.4.4.0/24")
    assert attached == pool
    got = [a.request_address(pool["PoolID"]) if i % 2 else b.request_address(pool["PoolID"])
           for i in range(40)]
    assert len(set(got)) == 40
    hosts = {v.lease.address: v.host for v in a.leases()}
    assert hosts[got[0].split("/")[0]] == "b" and hosts[got[1].split("/")[0]] == "a"
    b.catch_up()
    assert {v.host for v in b.leases()} == {"a", "b"}


def test_release_pool_drops_only_this_hosts_hold() -> None:
    cluster = Cluster()
    a, b = cluster.host("a"), cluster.host("b")
    pool = a.request_pool("GlobalDefault", "10.4.4.0/24")
    b.request_pool("GlobalDefault", "10.4.4.0/24")
    a.release_pool(pool["PoolID"])
    address = b.request_address(pool["PoolID"])  # b's hold keeps the pool alive
    assert address.startswith("10.4.4.")
    [network] = [n for n in b.networks() if n.network.pool_id == pool["PoolID"]]
    assert network.holders == ("b",)
    with pytest.raises(IpamError, match="held by host"):
        a.release_pool(pool["PoolID"])
    b.release_address(pool["PoolID"], address.split("/")[0])
    b.release_pool(pool["PoolID"])
    a.catch_up()  # views show what the replica has applied; the service catches up first
    assert not [n for n in a.networks() if n.network.address_space == "GlobalDefault"]
    again = a.request_pool("GlobalDefault", "10.4.4.0/24")  # free again: a owns it alone
    assert again == pool


def test_local_space_stays_per_host() -> None:
    cluster = Cluster()
    a, b = cluster.host("a"), cluster.host("b")
    pa = a.request_pool("LocalDefault", "")
    pb = b.request_pool("LocalDefault", "")
    assert pa == pb  # each host has its own 172.17.0.0/16, as Docker's local space
    assert a.request_address(pa["PoolID"]) == b.request_address(pb["PoolID"])
    assert not cluster.global_log.entries


def test_a_restarted_host_sees_every_lease() -> None:
    cluster = Cluster()
    a = cluster.host("a")
    pool = a.request_pool("GlobalDefault", "10.4.4.0/24")
    leased = {a.request_address(pool["PoolID"]) for _ in range(5)}
    local = a.request_pool("LocalDefault", "")
    a.request_address(local["PoolID"])
    again = cluster.host("a")
    assert {f"{v.lease.address}/{v.lease.prefix_len}" for v in again.leases()
            if v.lease.address_space == "GlobalDefault"} == leased
    assert len([v for v in again.leases() if v.lease.address_space == "LocalDefault"]) == 1
    assert again.request_address(pool["PoolID"]) not in leased


def test_stale_replica_catches_up_before_refusing() -> None:
    cluster = Cluster()
    a, b = cluster.host("a"), cluster.host("b")
    pool = a.request_pool("GlobalDefault", "10.4.4.0/24")
    # b has not seen the pool yet; RequestAddress must not answer "pool not found"
    assert b.request_address(pool["PoolID"]).startswith("10.4.4.")


def test_lost_answer_is_not_done_twice() -> None:
    cluster = Cluster()
    a, b = cluster.host("a"), cluster.host("b")
    pool = a.request_pool("GlobalDefault", "10.4.4.0/24")
    cluster.global_log.lose_answers = 1
    with pytest.raises(StoreUnavailable):
        a.request_address(pool["PoolID"])
    # the entry landed although a never heard so: the next request sees it, no duplicate
    first = b.request_address(pool["PoolID"])
    second = a.request_address(pool["PoolID"])
    assert first != second
    a.catch_up()
    # three leases: the lost one is an address nobody uses (never one handed out twice)
    assert len({v.lease.address for v in a.leases()}) == 3


def test_lost_answer_retried_returns_the_landed_result() -> None:
    cluster = Cluster()
    a = cluster.host("a")
    pool = a.request_pool("GlobalDefault", "10.4.4.0/24")
    cluster.global_log.lose_answers, cluster.global_log.retry_lost = 1, True
    assert a.request_address(pool["PoolID"]) == "10.4.4.1/24"
    assert a.request_address(pool["PoolID"]) == "10.4.4.2/24"
    assert len(cluster.global_log.entries) == 3


def test_store_down_changes_nothing() -> None:
    cluster = Cluster()
    a = cluster.host("a")
    pool = a.request_pool("GlobalDefault", "10.4.4.0/24")
    cluster.global_log.down = True
    with pytest.raises(StoreUnavailable):
        a.request_address(pool["PoolID"])
    assert not a.leases()
    cluster.global_log.down = False
    assert a.request_address(pool["PoolID"]) == "10.4.4.1/24"


def test_concurrent_hosts_in_threads() -> None:
    cluster = Cluster()
    hosts = [cluster.host(f"h{i}") for i in range(3)]
    pool = hosts[0].request_pool("GlobalDefault", "10.8.0.0/22")
    for h in hosts[1:]:
        h.request_pool("GlobalDefault", "10.8.0.0/22")
    results: dict[str, list[str]] = {h.host: [] for h in hosts}

    def work(h: SharedAllocator) -> None:
        for _ in range(100):
            results[h.host].append(h.request_address(pool["PoolID"]))

    threads = [threading.Thread(target=work, args=(h,)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    everything = [a for got in results.values() for a in got]
    assert len(everything) == 300 and len(set(everything)) == 300
