"""The allocator shared by several hosts through a replicated, compare-and-swap log (sans-IO).

Theory of operation. Each address space that hosts share lives in one *log*: a numbered
sequence of ``Entry`` records, each the change records (``model.Change``) of one acknowledged
request plus who made it. Every host keeps a ``Replica``: an ordinary ``Allocator`` that has
applied the log up to ``seq``. A request runs on the replica inside an allocator transaction;
its changes become entry ``seq + 1`` and are appended with a compare-and-swap (``Log.append``:
"only if the log still ends at ``seq``"). When another host appended first, the append fails,
returns the entries this host missed, the local transaction is undone, the missed entries are
applied, and the request runs again on the now current data. So the log is the only truth, each
entry was computed on the data every earlier entry left, and two hosts can never both hand out
one address. A host that restarts replays the log and sees every lease.

A host that loses the race again on current data backs off (``AppendRetry``): a pause of
random length, growing exponentially up to a cap, then it reads what it missed and tries again
on equal terms with the others. It keeps its turn until ``deadline`` seconds after its first
lost append (the store client's own deadline, five seconds), then gives up with
``StoreUnavailable`` naming the log, the lost appends and the time; nothing was handed out. A
log that conflicts but returns nothing newer (a damaged head) ends the same way.

An append whose outcome is unknown (a store member died after the request left) is retried
(by the log's client, on another member): if it had been committed, the retry's
compare-and-swap fails and the missed entries include this request's own entry (found by its
``request`` id), whose stored ``result`` is then returned, so the request is neither lost nor
done twice. When no member answers in time, dockerd gets an error; an append that did land
anyway is applied by the next catch-up (an address nobody uses, never a duplicate).

The log does not grow without bound: the host that appends entry ``n * compact_every`` writes a
``Snapshot`` of its replica at that entry (the allocator's ``snapshot()``, the holds and the
lease hosts) and deletes the entries before ``seq - keep`` (``Log.compact``). A replica whose
next entry is gone (a host that joins later, or one that was behind) loads the newest snapshot
and applies the entries after it, so it still sees every lease. The ``keep`` newest entries stay,
so a retried append still finds its own entry.

Two logs per host: the global address space (shared by every host, ``GLOBAL_LOG``) and the
host's own local space (``host_log(host)``), which stays per host as Docker's does. In the
global space a ``RequestPool`` for a subnet another host holds attaches to that pool (same
PoolID) and counts a *hold* for this host; ``ReleasePool`` drops this host's hold and releases
the pool itself only when no host holds it any more. Each lease records the host that asked.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .allocator import Allocator, Clock, LeaseView, NetworkView
from .config import IpamConfig, Scope
from .errors import IpamError, StateError
from .model import Change, prefix_of

JSON = Any
GLOBAL_LOG = "global"
COMMIT_DEADLINE = 5.0  # s a request keeps trying after its first lost append (etcd.DEADLINE)
BACKOFF_FIRST = 0.002  # s, the ceiling of the first pause: about one loopback etcd transaction
BACKOFF_CAP = 0.05  # s, the ceiling's cap: the etcd client's first pause for a leader
COMPACT_EVERY = 1000  # entries between snapshots
KEEP = 100  # entries kept before a snapshot (a retried append finds its own among them)


def host_log(host: str) -> str:
    return f"hosts/{host}"


@dataclass(frozen=True, kw_only=True)
class Hold:
    """One host's change of its hold on a shared pool (+1 attach, -n release)."""

    pool_id: str
    host: str
    delta: int
    pool: str
    sub_pool: str

    def to_json(self) -> list[JSON]:
        return [self.pool_id, self.host, self.delta, self.pool, self.sub_pool]

    @classmethod
    def from_json(cls, row: list[JSON]) -> Hold:
        pool_id, host, delta, pool, sub_pool = row
        return cls(pool_id=str(pool_id), host=str(host), delta=int(delta), pool=str(pool),
                   sub_pool=str(sub_pool))


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One acknowledged request in a log: its number, host, id, changes, holds and answer."""

    seq: int
    host: str
    request: str
    changes: list[Change]
    holds: tuple[Hold, ...] = ()
    result: JSON = None
    time: float = 0.0

    def to_json(self) -> dict[str, JSON]:
        return {"seq": self.seq, "host": self.host, "request": self.request,
                "changes": self.changes, "holds": [h.to_json() for h in self.holds],
                "result": self.result, "time": self.time}

    @classmethod
    def from_json(cls, data: JSON) -> Entry:
        """Raises ValueError/KeyError/TypeError for something that is not an entry."""
        if not isinstance(data, dict):
            raise TypeError(f"log entry is not an object: {data!r:.80}")
        return cls(seq=int(data["seq"]), host=str(data["host"]), request=str(data["request"]),
                   changes=list(data["changes"]),
                   holds=tuple(Hold.from_json(h) for h in data.get("holds", [])),
                   result=data.get("result"), time=float(data.get("time", 0.0)))


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """A replica as it was after entry ``seq``: what a host that joins later starts from."""

    seq: int
    allocator: dict[str, JSON]
    holds: tuple[tuple[str, str, str, tuple[tuple[str, int], ...]], ...] = ()
    lease_hosts: tuple[tuple[str, str, str], ...] = ()

    def to_json(self) -> dict[str, JSON]:
        return {"seq": self.seq, "allocator": self.allocator,
                "holds": [[i, p, s, [list(h) for h in hosts]] for i, p, s, hosts in self.holds],
                "lease_hosts": [list(row) for row in self.lease_hosts]}

    @classmethod
    def from_json(cls, data: JSON) -> Snapshot:
        """Raises ValueError/KeyError/TypeError for something that is not a snapshot."""
        if not isinstance(data, dict) or not isinstance(data["allocator"], dict):
            raise TypeError(f"log snapshot is not an object: {data!r:.80}")
        holds = tuple((str(i), str(p), str(s), tuple((str(h), int(n)) for h, n in hosts))
                      for i, p, s, hosts in data.get("holds", []))
        leases = tuple((str(pool), str(address), str(host))
                       for pool, address, host in data.get("lease_hosts", []))
        return cls(seq=int(data["seq"]), allocator=data["allocator"], holds=holds,
                   lease_hosts=leases)


class Log(Protocol):
    """Where a replica's entries live (``ipamx_spy.ipam.etcd.EtcdLog`` for etcd)."""

    name: str

    def append(self, entry: Entry) -> list[Entry] | None:
        """Append ``entry`` only if the log ends at ``entry.seq - 1``: None when it was
        appended, else the entries after ``entry.seq - 1``. Raises ``StoreUnavailable``
        (an OSError) when the store cannot be reached; the outcome is then unknown."""
        ...

    def read_after(self, seq: int) -> list[Entry]:
        """The entries after ``seq`` that are still kept, in order. Raises
        ``StoreUnavailable``."""
        ...

    def read_snapshot(self) -> Snapshot | None:
        """The newest snapshot, None when there is none. Raises ``StoreUnavailable``."""
        ...

    def compact(self, snapshot: Snapshot, keep: int) -> None:
        """Store ``snapshot`` and delete the entries up to ``snapshot.seq - keep`` and older
        snapshots, all at once. Raises ``StoreUnavailable``."""
        ...


class MemoryLog:
    """A log in this process (``Log``): the hosts of one merged replay share the global one,
    so several allocators in one process share the global address space as etcd shares it
    between machines. It is never unreachable, and nothing outlives the process."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.entries: dict[int, Entry] = {}  # seq -> entry, what compaction left
        self.head = 0
        self.snapshots: dict[int, Snapshot] = {}
        self._lock = threading.Lock()

    def _after(self, seq: int) -> list[Entry]:
        return [self.entries[n] for n in sorted(self.entries) if n > seq]

    def append(self, entry: Entry) -> list[Entry] | None:
        with self._lock:
            if self.head != entry.seq - 1:
                return self._after(entry.seq - 1)
            # stored as etcd stores it: a copy, so a replica never shares objects with the log
            self.entries[entry.seq] = Entry.from_json(json.loads(json.dumps(entry.to_json())))
            self.head = entry.seq
            return None

    def read_after(self, seq: int) -> list[Entry]:
        with self._lock:
            return self._after(seq)

    def read_snapshot(self) -> Snapshot | None:
        with self._lock:
            newest = max(self.snapshots, default=None)
            return None if newest is None else self.snapshots[newest]

    def compact(self, snapshot: Snapshot, keep: int) -> None:
        with self._lock:
            self.snapshots = {snapshot.seq: Snapshot.from_json(
                json.loads(json.dumps(snapshot.to_json())))}
            for seq in [n for n in self.entries if n <= snapshot.seq - keep]:
                del self.entries[seq]


class StoreUnavailable(OSError):
    """The shared store cannot be reached in time; nothing was handed out."""


@dataclass(frozen=True, kw_only=True)
class AppendRetry:
    """How a replica retries an append that lost the compare-and-swap to other hosts.

    The first lost append of a request is retried at once (the conflict brought the entries
    it missed). Each later one in a row pauses: the ceiling ``first * factor ** (n - 1)``
    capped at ``cap``, less a random part of up to ``jitter`` of it (so hosts that collided
    do not collide again in step), then reads the log and tries again. After ``deadline``
    seconds from the first lost append the request fails with ``StoreUnavailable``.
    ``sleep``, ``monotonic`` and ``random`` (in [0, 1)) are injectable for tests.
    """

    deadline: float = COMMIT_DEADLINE
    first: float = BACKOFF_FIRST
    factor: float = 2.0
    cap: float = BACKOFF_CAP
    jitter: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    random: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if not (self.deadline >= 0 and 0 < self.first <= self.cap and self.factor >= 1
                and 0 <= self.jitter <= 1):
            raise ValueError(f"not a usable retry policy: {self!r}")

    def ceiling(self, pauses: int) -> float:
        """The longest pause before the ``pauses``-th retry in a row (1, 2, ...)."""
        return min(self.cap, self.first * self.factor ** min(pauses - 1, 64))

    def pause(self, pauses: int) -> float:
        return self.ceiling(pauses) * (1.0 - self.jitter * self.random())


class _Turns:
    """One request's attempts at the end of a log, paced against its deadline."""

    def __init__(self, retry: AppendRetry, log: str) -> None:
        self.retry = retry
        self.log = log
        self.started: float | None = None  # monotonic time of the first retry
        self.attempts = 1
        self.lost = 0  # appends lost to other hosts
        self.pauses = 0  # pauses so far (a lost append after the first)
        self.newer = 0  # entries of other hosts found since the first attempt

    def again(self, newer: int) -> None:
        """Before a retry that needs no pause: the data was behind by ``newer`` entries.
        Raises StoreUnavailable past the deadline."""
        self.newer += newer
        self._remaining()
        self.attempts += 1

    def lost_append(self, newer: int) -> bool:
        """After an append lost the compare-and-swap (``newer`` entries came back): True
        after a pause (the caller reads the log again before retrying), False the first
        time (retry at once). Raises StoreUnavailable past the deadline."""
        self.lost += 1
        self.newer += newer
        remaining = self._remaining()
        self.attempts += 1
        if self.lost == 1:
            return False
        self.pauses += 1
        self.retry.sleep(min(self.retry.pause(self.pauses), remaining))
        return True

    def found(self, newer: int) -> None:
        self.newer += newer

    def _remaining(self) -> float:
        now = self.retry.monotonic()
        if self.started is None:
            self.started = now
        remaining = self.started + self.retry.deadline - now
        if remaining <= 0:
            raise StoreUnavailable(self._message(now - self.started))
        return remaining

    def _message(self, elapsed: float) -> str:
        if self.lost and not self.newer:
            why = "yet it returned no newer entries (is its head damaged?)"
        else:
            why = f"other hosts appended {self.newer} entries meanwhile"
        return (f"log {self.log}: gave up after {self.attempts} attempts in "
                f"{elapsed:.2f} s (deadline {self.retry.deadline:g} s), "
                f"{self.lost} of them lost the compare-and-swap; {why}; nothing was changed")


class _Conflict(Exception):
    def __init__(self, newer: list[Entry]) -> None:
        super().__init__("log moved on")
        self.newer = newer


@dataclass
class PoolHolds:
    """Which hosts hold a shared pool, and how often each asked for it."""

    pool: str
    sub_pool: str
    hosts: dict[str, int] = field(default_factory=dict)

    def holders(self) -> list[str]:
        return sorted(h for h, n in self.hosts.items() if n > 0)


@dataclass(frozen=True, kw_only=True)
class HostLease:
    lease: LeaseView
    host: str


@dataclass(frozen=True, kw_only=True)
class HostNetwork:
    network: NetworkView
    holders: tuple[str, ...]


class Replica:
    """One log applied to an ``Allocator``, with the pool holds and lease hosts it implies."""

    def __init__(self, log: Log, config: IpamConfig, *, clock: Clock = time.time,
                 compact_every: int = COMPACT_EVERY, keep: int = KEEP,
                 retry: AppendRetry = AppendRetry()) -> None:
        if compact_every < 1 or keep < 1:
            raise ValueError("compact_every and keep must be at least 1")
        self.log = log
        self.retry = retry
        self.config = config
        self.clock = clock
        self.compact_every = compact_every
        self.keep = keep
        self.allocator = Allocator(config, clock=clock)
        self.seq = 0
        self.holds: dict[str, PoolHolds] = {}
        self.lease_hosts: dict[tuple[str, str], str] = {}

    def catch_up(self) -> None:
        """Apply what other hosts appended. Raises StoreUnavailable, StateError."""
        self.apply_all(self.log.read_after(self.seq))

    def apply_all(self, entries: list[Entry]) -> None:
        """Apply the entries after ``seq``; when the next one was compacted away, start from
        the log's snapshot first. Raises StoreUnavailable, StateError."""
        pending = [e for e in entries if e.seq > self.seq]
        if pending and pending[0].seq > self.seq + 1:
            self._restore(pending[0].seq)
        for entry in pending:
            if entry.seq <= self.seq:
                continue
            if entry.seq != self.seq + 1:
                raise StateError(f"log {self.log.name} jumps from {self.seq} to {entry.seq}")
            try:
                self.allocator.apply(entry.changes)
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                raise StateError(f"log {self.log.name} entry {entry.seq} does not apply: "
                                 f"{exc!r}") from exc
            self._account(entry)

    def _restore(self, first: int) -> None:
        """Load the snapshot that bridges the gap up to entry ``first``."""
        snapshot = self.log.read_snapshot()
        if snapshot is None or not self.seq < snapshot.seq or snapshot.seq + 1 < first:
            raise StateError(f"log {self.log.name} jumps from {self.seq} to {first} and its "
                             "snapshot does not cover the gap")
        allocator = Allocator.from_snapshot(snapshot.allocator, self.config, clock=self.clock,
                                            source=f"snapshot of log {self.log.name}")
        self.allocator, self.seq = allocator, snapshot.seq
        self.holds = {pool_id: PoolHolds(pool, sub_pool, dict(hosts))
                      for pool_id, pool, sub_pool, hosts in snapshot.holds}
        self.lease_hosts = {(pool, address): host
                            for pool, address, host in snapshot.lease_hosts}

    def snapshot(self) -> Snapshot:
        """The replica as it is now (after entry ``seq``)."""
        holds = tuple((pool_id, r.pool, r.sub_pool, tuple(sorted(r.hosts.items())))
                      for pool_id, r in sorted(self.holds.items()))
        leases = tuple((pool, address, host)
                       for (pool, address), host in sorted(self.lease_hosts.items()))
        return Snapshot(seq=self.seq, allocator=self.allocator.snapshot(), holds=holds,
                        lease_hosts=leases)

    def _compact_if_due(self) -> None:
        """After this host appended entry ``n * compact_every``. The request is committed
        already: a store that fails now only delays the compaction to the next one."""
        if self.seq % self.compact_every:
            return
        try:
            self.log.compact(self.snapshot(), self.keep)
        except StoreUnavailable:
            pass

    def _account(self, entry: Entry) -> None:
        for change in entry.changes:
            self._account_change(entry.host, change)
        for hold in entry.holds:
            record = self.holds.setdefault(hold.pool_id, PoolHolds(hold.pool, hold.sub_pool))
            record.hosts[hold.host] = max(0, record.hosts.get(hold.host, 0) + hold.delta)
            if not record.holders():
                del self.holds[hold.pool_id]
        self.seq = entry.seq

    def _account_change(self, host: str, change: Change) -> None:
        kind = change[0]
        if kind == "addr+" and change[4] is not None:
            self.lease_hosts[(change[2], str(prefix_of(change[2]).at(int(change[3]))))] = host
        elif kind == "addr-":
            self.lease_hosts.pop((change[2], str(prefix_of(change[2]).at(int(change[3])))), None)
        elif kind == "pool-":
            for key in [k for k in self.lease_hosts if k[0] == change[2]]:
                del self.lease_hosts[key]

    def host_leases(self, owner: str | None) -> list[HostLease]:
        """Leases with their host: ``owner`` for a per-host log, else whoever asked."""
        return [HostLease(lease=lease, host=owner or self.lease_hosts.get(
                    (lease.pool, lease.address), "?"))
                for lease in self.allocator.leases()]

    def host_networks(self, owner: str | None) -> list[HostNetwork]:
        """Pools with the hosts holding them: ``owner`` for a per-host log."""
        views = []
        for network in self.allocator.networks():
            record = self.holds.get(network.pool_id)
            holders = tuple(record.holders()) if record is not None else ()
            views.append(HostNetwork(network=network, holders=(owner,) if owner else holders))
        return views

    def commit(self, host: str, operation: Callable[[], tuple[JSON, tuple[Hold, ...]]]
               ) -> JSON:
        """Run ``operation`` on current data and append its changes; returns its result.

        A refusal or an answer that changes nothing was computed on data that may be behind:
        the replica catches up and, if anything was missed, runs it again. An append that
        lost to other hosts is retried as ``self.retry`` says. Raises IpamError (the
        allocator refused; nothing appended), StoreUnavailable (the store could not be
        reached in time, the log may or may not hold the request and a later catch-up
        applies it if it does; or other hosts kept appending first until the retry's
        deadline, and nothing was appended) or StateError (the log is damaged).
        """
        request = uuid.uuid4().hex
        turns = _Turns(self.retry, self.log.name)
        while True:
            try:
                result, appended = self._attempt(host, request, operation)
            except _Conflict as conflict:
                mine = _find(conflict.newer, request)
                before = self.seq
                self.apply_all(conflict.newer)
                if mine is not None:
                    return mine.result
                if turns.lost_append(self.seq - before):  # paused: read what came meanwhile
                    turns.found(self._missed())
                continue
            except IpamError:
                missed = self._missed()
                if not missed:
                    raise
                turns.again(missed)
                continue
            if appended:
                self._compact_if_due()
                return result
            missed = self._missed()
            if not missed:
                return result
            turns.again(missed)

    def _missed(self) -> int:
        """Catch up; how many entries that applied. Raises StoreUnavailable, StateError."""
        before = self.seq
        self.catch_up()
        return self.seq - before

    def _attempt(self, host: str, request: str,
                 operation: Callable[[], tuple[JSON, tuple[Hold, ...]]]) -> tuple[JSON, bool]:
        with self.allocator.transaction() as txn:
            result, holds = operation()
            entry = Entry(seq=self.seq + 1, host=host, request=request,
                          changes=list(txn.changes), holds=holds, result=result,
                          time=self.allocator.clock())
            if not entry.changes and not entry.holds:
                return result, False
            newer = self.log.append(entry)
            if newer is not None:
                raise _Conflict(newer)
        self._account(entry)
        return result, True


def _find(entries: list[Entry], request: str) -> Entry | None:
    return next((e for e in entries if e.request == request), None)


class SharedAllocator:
    """The four protocol requests over a global replica (shared) and a local one (this host).

    How long one call may wait for the store is the logs' business (their client's
    deadline); how long a request keeps retrying appends lost to other hosts is ``retry``'s.
    """

    def __init__(self, config: IpamConfig, *, host: str, global_log: Log, local_log: Log,
                 clock: Clock = time.time, compact_every: int = COMPACT_EVERY,
                 keep: int = KEEP, retry: AppendRetry = AppendRetry()) -> None:
        self.config = config
        self.host = host
        self.replicas = {name: Replica(log, config, clock=clock, compact_every=compact_every,
                                       keep=keep, retry=retry)
                         for name, log in ((Scope.GLOBAL, global_log), (Scope.LOCAL, local_log))}

    def catch_up(self) -> None:
        for replica in self.replicas.values():
            replica.catch_up()

    def default_address_spaces(self) -> tuple[str, str]:
        return (self.config.local_space, self.config.global_space)

    def _replica_of_space(self, address_space: str) -> Replica:
        scope = self.config.scope_of(address_space)
        if scope is None:
            # the allocator itself refuses an unknown space with Docker's text
            return self.replicas[Scope.LOCAL]
        return self.replicas[scope]

    def _replica_of_pool(self, pool_id: str) -> Replica:
        return self._replica_of_space(pool_id.split("/", 1)[0])

    def _commit(self, replica: Replica,
                operation: Callable[[], tuple[JSON, tuple[Hold, ...]]]) -> JSON:
        return replica.commit(self.host, operation)

    # -- the protocol ----------------------------------------------------------------------

    def request_pool(self, address_space: str, pool: str = "", sub_pool: str = "",
                     options: Mapping[str, str] | None = None,
                     v6: bool = False) -> dict[str, str]:
        """``{"PoolID", "Pool"}``. Raises IpamError, StoreUnavailable, StateError."""
        replica = self._replica_of_space(address_space)
        shared = replica is self.replicas[Scope.GLOBAL]

        def operation() -> tuple[JSON, tuple[Hold, ...]]:
            held = self._held_by_others(replica, pool, sub_pool) if shared and pool else None
            if held is not None:
                pool_id, record = held
                return ({"PoolID": pool_id, "Pool": record.pool},
                        (self._hold(pool_id, record.pool, sub_pool, +1),))
            got = replica.allocator.request_pool(address_space, pool, sub_pool, options, v6)
            holds = (self._hold(got.pool_id, got.pool, sub_pool, +1),) if shared else ()
            return {"PoolID": got.pool_id, "Pool": got.pool}, holds

        result: dict[str, str] = self._commit(replica, operation)
        return result

    def _held_by_others(self, replica: Replica, pool: str,
                        sub_pool: str) -> tuple[str, PoolHolds] | None:
        wanted = _canonical(pool)
        for pool_id, record in replica.holds.items():
            if record.pool == wanted and record.sub_pool == sub_pool \
                    and self.host not in record.holders():
                return pool_id, record
        return None

    def _hold(self, pool_id: str, pool: str, sub_pool: str, delta: int) -> Hold:
        return Hold(pool_id=pool_id, host=self.host, delta=delta, pool=pool, sub_pool=sub_pool)

    def release_pool(self, pool_id: str) -> None:
        """Drop this host's hold; release the pool when no host holds it. Raises IpamError,
        StoreUnavailable, StateError."""
        replica = self._replica_of_pool(pool_id)

        def operation() -> tuple[JSON, tuple[Hold, ...]]:
            record = replica.holds.get(pool_id)
            if record is None:
                replica.allocator.release_pool(pool_id)
                return None, ()
            mine = record.hosts.get(self.host, 0)
            others = [h for h in record.holders() if h != self.host]
            if not mine:
                raise IpamError(f"ipamx-spy: pool {pool_id} is held by host(s) "
                                f"{', '.join(others)}, not by this host ({self.host}); "
                                "nothing was released")
            hold = self._hold(pool_id, record.pool, record.sub_pool, -mine)
            if not others:
                replica.allocator.release_pool(pool_id)
            return None, (hold,)

        self._commit(replica, operation)

    def request_address(self, pool_id: str, address: str = "",
                        options: Mapping[str, str] | None = None) -> str:
        """``ip/prefixlen``. Raises IpamError, StoreUnavailable, StateError."""
        replica = self._replica_of_pool(pool_id)

        def operation() -> tuple[JSON, tuple[Hold, ...]]:
            return replica.allocator.request_address(pool_id, address, options), ()

        return str(self._commit(replica, operation))

    def release_address(self, pool_id: str, address: str) -> None:
        """Raises IpamError, StoreUnavailable, StateError."""
        replica = self._replica_of_pool(pool_id)

        def operation() -> tuple[JSON, tuple[Hold, ...]]:
            replica.allocator.release_address(pool_id, address)
            return None, ()

        self._commit(replica, operation)

    # -- views -----------------------------------------------------------------------------

    def leases(self) -> list[HostLease]:
        """Every lease of the global space (all hosts) and of this host's local space."""
        return [*self.replicas[Scope.GLOBAL].host_leases(None),
                *self.replicas[Scope.LOCAL].host_leases(self.host)]

    def networks(self) -> list[HostNetwork]:
        return [*self.replicas[Scope.GLOBAL].host_networks(None),
                *self.replicas[Scope.LOCAL].host_networks(self.host)]


def _canonical(pool: str) -> str:
    try:
        return str(prefix_of(pool).masked())
    except ValueError:
        return pool
