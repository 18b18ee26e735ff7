"""How a host retries an append that lost the compare-and-swap (``shared.AppendRetry``).

The logs here are ``shared.MemoryLog`` with another host's request landing just before this
host's append; sleep and clock are a fake (no real pause, no wall-clock assert).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from ipamx_spy.ipam.config import IpamConfig
from ipamx_spy.ipam.errors import IpamError
from ipamx_spy.ipam.shared import (
    BACKOFF_CAP,
    BACKOFF_FIRST,
    COMMIT_DEADLINE,
    GLOBAL_LOG,
    AppendRetry,
    Entry,
    MemoryLog,
    SharedAllocator,
    StoreUnavailable,
)

POOL = "10.40.0.0/16"


class FakeTime:
    """A monotonic clock that moves only when something sleeps (or ``tick`` says so)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.slept.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now

    def retry(self, rand: Callable[[], float] = lambda: 0.0, **kw: Any) -> AppendRetry:
        return AppendRetry(sleep=self.sleep, monotonic=self.monotonic, random=rand, **kw)


class RivalFirst(MemoryLog):
    """Before each of this host's next ``wins`` appends, ``rival()`` lands a request first."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.wins = 0
        self.rival: Callable[[], object] = lambda: None
        self.appends = 0
        self.reads = 0

    def append(self, entry: Entry) -> list[Entry] | None:
        if entry.host != "rival":
            self.appends += 1
            if self.wins:
                self.wins -= 1
                self.rival()
        return super().append(entry)

    def read_after(self, seq: int) -> list[Entry]:
        self.reads += 1
        return super().read_after(seq)


class Wedged(MemoryLog):
    """A log whose head never matches and that returns nothing newer (a damaged head)."""

    appends = 0

    def append(self, entry: Entry) -> list[Entry] | None:
        self.appends += 1
        return []


def host(name: str, log: MemoryLog, retry: AppendRetry) -> SharedAllocator:
    return SharedAllocator(IpamConfig(), host=name, global_log=log,
                           local_log=MemoryLog(f"hosts/{name}"), retry=retry)


def contended(wins: int, retry: AppendRetry) -> tuple[SharedAllocator, RivalFirst, list[str],
                                                      str]:
    """Host ``h`` and a rival attached to one global pool; the rival wins ``wins`` races."""
    log = RivalFirst(GLOBAL_LOG)
    h = host("h", log, retry)
    rival = host("rival", log, FakeTime().retry())
    pool_id = h.request_pool("GlobalDefault", POOL)["PoolID"]
    assert rival.request_pool("GlobalDefault", POOL)["PoolID"] == pool_id
    got: list[str] = []
    log.rival = lambda: got.append(rival.request_address(pool_id))
    log.wins, log.appends, log.reads = wins, 0, 0
    return h, log, got, pool_id


def test_a_host_that_keeps_losing_backs_off_exponentially_up_to_the_cap() -> None:
    clock = FakeTime()
    h, log, rivals, pool_id = contended(12, clock.retry())
    address = h.request_address(pool_id)
    assert log.appends == 13  # 12 lost, the 13th landed
    assert address not in rivals and len(set(rivals)) == 12
    assert log.head == 2 + 12 + 1
    # the first loss is retried at once (it brought the missed entries); each later one pauses
    assert clock.slept == [pytest.approx(min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** k))
                           for k in range(11)]
    assert clock.slept[:6] == sorted(clock.slept[:6]) and len(set(clock.slept[:6])) == 6
    assert max(clock.slept) == BACKOFF_CAP and clock.slept[-5:] == [BACKOFF_CAP] * 5
    assert log.reads == 11  # after every pause it reads what came meanwhile
    # the other host sees the address as this host's
    leases = {v.lease.address: v.host for v in h.leases()}
    assert leases[address.split("/")[0]] == "h"


@pytest.mark.parametrize("seed", range(5))
def test_the_pauses_are_jittered_within_their_ceiling(seed: int) -> None:
    clock = FakeTime()
    retry = clock.retry(random.Random(seed).random)
    h, log, _rivals, pool_id = contended(20, retry)
    h.request_address(pool_id)
    assert len(clock.slept) == 19
    for n, pause in enumerate(clock.slept, start=1):
        ceiling = retry.ceiling(n)
        assert ceiling * (1 - retry.jitter) <= pause <= ceiling
    assert len(set(clock.slept)) == 19  # drawn, not in step with another host's
    assert retry.ceiling(19) == BACKOFF_CAP


def test_a_log_that_always_conflicts_ends_in_store_unavailable_at_the_deadline() -> None:
    clock = FakeTime()
    log = Wedged(GLOBAL_LOG)
    h = host("h", log, clock.retry(lambda: 0.5))
    start = clock.now
    with pytest.raises(StoreUnavailable) as caught:
        h.request_pool("GlobalDefault", POOL)
    assert clock.now - start == pytest.approx(COMMIT_DEADLINE)  # never slept past it
    assert max(clock.slept) <= BACKOFF_CAP
    message = str(caught.value)
    assert message.startswith(f"log global: gave up after {log.appends} attempts in 5.00 s "
                              "(deadline 5 s), ")
    assert f"{log.appends} of them lost the compare-and-swap" in message
    assert "returned no newer entries" in message and message.endswith("nothing was changed")
    assert log.appends > 64  # the old bare count gave up here
    assert h.leases() == [] and h.networks() == []


def test_a_host_that_never_wins_gives_up_at_the_deadline_naming_the_winners() -> None:
    clock = FakeTime()
    h, log, rivals, pool_id = contended(10**6, clock.retry(deadline=1.0))
    with pytest.raises(StoreUnavailable) as caught:
        h.request_address(pool_id)
    assert clock.now - 100.0 == pytest.approx(1.0)
    message = str(caught.value)
    assert f"gave up after {log.appends} attempts in 1.00 s (deadline 1 s)" in message
    # every address the rival got, and its attachment to the pool, which h had not yet seen
    assert f"other hosts appended {len(rivals) + 1} entries meanwhile" in message
    assert {v.host for v in h.leases()} == {"rival"}


class BehindForever(MemoryLog):
    """Every read finds one more entry of another host, and each read takes ``rtt`` s."""

    def __init__(self, name: str, clock: FakeTime, rival: Callable[[], object],
                 rtt: float) -> None:
        super().__init__(name)
        self.clock, self.rival, self.rtt, self.busy = clock, rival, rtt, False

    def read_after(self, seq: int) -> list[Entry]:
        if not self.busy:
            self.busy = True
            self.rival()
            self.busy = False
        self.clock.now += self.rtt
        return super().read_after(seq)


def test_a_refusal_that_is_always_behind_also_ends_at_the_deadline() -> None:
    clock = FakeTime()
    log = BehindForever(GLOBAL_LOG, clock, lambda: None, 0.25)
    h = host("h", log, clock.retry(deadline=2.0))
    rival = host("rival", log, FakeTime().retry())
    pool_id = rival.request_pool("GlobalDefault", "10.41.0.0/24")["PoolID"]
    log.rival = lambda: rival.request_address(pool_id)
    with pytest.raises(StoreUnavailable) as caught:
        h.release_address(pool_id, "10.41.0.99")  # refused each time, each time behind
    assert clock.slept == []  # the data was behind: no pause, but the deadline holds
    assert "gave up after 9 attempts in 2.00 s (deadline 2 s), 0 of them lost" in \
        str(caught.value)


def test_no_retry_once_caught_up() -> None:
    clock = FakeTime()
    log = RivalFirst(GLOBAL_LOG)
    h = host("h", log, clock.retry())
    with pytest.raises(IpamError):
        h.release_address("GlobalDefault/10.42.0.0/24", "10.42.0.1")
    assert log.reads == 1 and clock.slept == []


@pytest.mark.parametrize("bad", [dict(deadline=-1.0), dict(first=0.0), dict(first=1.0, cap=0.5),
                                 dict(factor=0.5), dict(jitter=1.5)])
def test_a_retry_policy_that_cannot_work_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not a usable retry policy"):
        AppendRetry(**bad)
