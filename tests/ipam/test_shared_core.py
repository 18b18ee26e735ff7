"""The shared allocator's sans-IO core over an in-memory compare-and-swap log.

The in-memory log obeys the same contract as the etcd one (``shared.Log``); the real cluster
is exercised in tests/test_etcd_store.py.
"""

from __future__ import annotations

import json
import threading

import pytest

from ipamx_spy.ipam.config import IpamConfig
from ipamx_spy.ipam.errors import IpamError
from ipamx_spy.ipam.shared import Entry, SharedAllocator, Snapshot, StoreUnavailable


class MemoryLog:
    def __init__(self, name: str) -> None:
        self.name = name
        self.entries: dict[int, Entry] = {}  # seq -> entry, what compaction left
        self.head = 0
        self.snapshots: dict[int, Snapshot] = {}
        self.lock = threading.Lock()
        self.lose_answers = 0  # append lands, then "the connection dies"
        self.retry_lost = False  # ... and the client retries it on another member
        self.down = False

    def _after(self, seq: int) -> list[Entry]:
        return [self.entries[n] for n in sorted(self.entries) if n > seq]

    def append(self, entry: Entry) -> list[Entry] | None:
        with self.lock:
            if self.down:
                raise StoreUnavailable("down")
            if self.head != entry.seq - 1:
                return self._after(entry.seq - 1)
            self.entries[entry.seq] = Entry.from_json(entry.to_json())
            self.head = entry.seq
            if self.lose_answers:
                self.lose_answers -= 1
                if self.retry_lost:  # the same compare-and-swap again: it fails now
                    return self._after(entry.seq - 1)
                raise StoreUnavailable("answer lost")
            return None

    def read_after(self, seq: int) -> list[Entry]:
        with self.lock:
            if self.down:
                raise StoreUnavailable("down")
            return self._after(seq)

    def read_snapshot(self) -> Snapshot | None:
        with self.lock:
            if self.down:
                raise StoreUnavailable("down")
            newest = max(self.snapshots, default=None)
            return None if newest is None else self.snapshots[newest]

    def compact(self, snapshot: Snapshot, keep: int) -> None:
        with self.lock:
            if self.down:
                raise StoreUnavailable("down")
            self.snapshots = {snapshot.seq: Snapshot.from_json(
                json.loads(json.dumps(snapshot.to_json())))}
            for seq in [n for n in self.entries if n <= snapshot.seq - keep]:
                del self.entries[seq]


class Cluster:
    def __init__(self) -> None:
        self.global_log = MemoryLog("global")
        self.local_logs: dict[str, MemoryLog] = {}

    def host(self, name: str, **compaction: int) -> SharedAllocator:
        local = self.local_logs.setdefault(name, MemoryLog(f"hosts/{name}"))
        shared = SharedAllocator(IpamConfig(), host=name, global_log=self.global_log,
                                 local_log=local, **compaction)
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


def leased(shared: SharedAllocator) -> dict[str, str]:
    return {f"{v.lease.address_space} {v.lease.address}": v.host for v in shared.leases()}


def test_the_log_is_compacted_and_a_late_host_still_sees_every_lease() -> None:
    cluster = Cluster()
    a, b = cluster.host("a", compact_every=5, keep=2), cluster.host("b", compact_every=5, keep=2)
    pool = a.request_pool("GlobalDefault", "10.4.4.0/24")
    b.request_pool("GlobalDefault", "10.4.4.0/24")
    got = [(a if i % 3 else b).request_address(pool["PoolID"]) for i in range(40)]
    released = got.pop(7)
    b.release_address(pool["PoolID"], released.split("/")[0])
    local = a.request_pool("LocalDefault", "")
    for _ in range(12):
        a.request_address(local["PoolID"])
    log = cluster.global_log
    assert log.head == 43 and len(log.entries) <= 5 + 2, sorted(log.entries)
    assert min(log.entries) > 1 and list(log.snapshots) == [40]
    assert len(cluster.local_logs["a"].entries) <= 5 + 2

    late = cluster.host("c", compact_every=5, keep=2)  # joins after the compaction
    a.catch_up()
    assert leased(late) == {k: v for k, v in leased(a).items() if k.startswith("GlobalDefault")}
    assert len(leased(late)) == 39 and f"GlobalDefault {released.split('/')[0]}" not in leased(late)
    assert {leased(late)[f"GlobalDefault {g.split('/')[0]}"] for g in got} == {"a", "b"}
    late.request_pool("GlobalDefault", "10.4.4.0/24")  # attaches: the holds survived
    assert late.request_address(pool["PoolID"]) not in got
    again = cluster.host("a", compact_every=5, keep=2)  # a restarts: its local space too
    assert len([k for k in leased(again) if k.startswith("LocalDefault")]) == 12
    [network] = [n for n in again.networks() if n.network.pool_id == pool["PoolID"]]
    assert network.holders == ("a", "b", "c")


def test_a_replica_left_behind_by_a_compaction_catches_up_from_the_snapshot() -> None:
    cluster = Cluster()
    a, b = cluster.host("a", compact_every=4, keep=1), cluster.host("b", compact_every=4, keep=1)
    pool = a.request_pool("GlobalDefault", "10.4.4.0/24")
    first = b.request_address(pool["PoolID"])  # b is at entry 2
    more = [a.request_address(pool["PoolID"]) for _ in range(10)]
    assert min(cluster.global_log.entries) > 3  # b's next entry is gone
    assert b.request_address(pool["PoolID"]) not in [first, *more]


def test_a_gap_no_snapshot_covers_is_a_state_error() -> None:
    from ipamx_spy.ipam.errors import StateError

    cluster = Cluster()
    a = cluster.host("a")
    pool = a.request_pool("GlobalDefault", "10.4.4.0/24")
    a.request_address(pool["PoolID"])
    del cluster.global_log.entries[1]
    with pytest.raises(StateError, match="jumps from 0 to 2"):
        cluster.host("b")


def test_a_failed_compaction_does_not_fail_the_committed_request() -> None:
    cluster = Cluster()
    a = cluster.host("a", compact_every=2, keep=1)
    pool = a.request_pool("GlobalDefault", "10.4.4.0/24")

    def refuse(_snapshot: Snapshot, _keep: int) -> None:
        raise StoreUnavailable("member died after the append")

    cluster.global_log.compact = refuse  # type: ignore[method-assign]
    assert a.request_address(pool["PoolID"]) == "10.4.4.1/24"
    assert len(cluster.global_log.entries) == 2 and not cluster.global_log.snapshots
